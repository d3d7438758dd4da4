import { describe, expect, it } from 'vitest';
import type { Device } from '@ferry/protocol';
import type { ServableVariant } from './candidates.js';
import { RankingCache } from './ranking-cache.js';
import type { ServingVersion } from './serving-state.js';

function variant(kind: string, requires: Partial<ServableVariant['requires']>, size = 100): ServableVariant {
  return {
    kind,
    precision: kind === 'fp16' ? 'fp16' : 'fp32',
    sha256: `${kind}-sha`,
    size,
    requires: { format: 'onnx', backends: ['webgpu', 'wasm'], features: [], ...requires },
    encodings: [],
  };
}

function version(variants: ServableVariant[]): ServingVersion {
  return { number: 1, io: null, compatibility: null, releasedAt: null, variants };
}

function device(id: string, caps: Partial<Device['capabilities']> = {}): Device {
  return { id, platform: 'web', sdk: { version: '1.0.0' }, capabilities: { backends: ['webgpu', 'wasm'], ...caps } };
}

const url = (sha: string) => `/v1/artifacts/${sha}`;

describe('RankingCache', () => {
  it('ranks once per capability profile, whatever the device id', () => {
    const v = version([variant('original', {}), variant('fp16', { backends: ['webgpu'], features: ['shader-f16'] }, 50)]);
    const cache = new RankingCache(url);
    const a = cache.rank(v, device('a', { features: ['shader-f16'] }), null);
    const b = cache.rank(v, device('b', { features: ['shader-f16'] }), null);
    expect(b).toBe(a);
    expect(a.key).toBe('fp16/webgpu,original/webgpu,original/wasm');
    expect(cache.rank(v, device('c'), null).key).toBe('original/webgpu,original/wasm');
  });

  it('gives profiles that rank alike the same ranking object', () => {
    const v = version([variant('original', {})]);
    const cache = new RankingCache(url);
    expect(cache.rank(v, device('a', { features: ['shader-f16'] }), null)).toBe(cache.rank(v, device('b', { features: [] }), null));
  });

  it('tells apart profiles whose joined strings would look alike', () => {
    const v = version([variant('original', { features: ['a'] })]);
    const cache = new RankingCache(url);
    expect(cache.rank(v, device('x', { features: ['a', 'b'] }), null).candidates).toHaveLength(2);
    expect(cache.rank(v, device('x', { features: ['a,b'] }), null).candidates).toHaveLength(0);
  });

  it('keys on memory only when a variant has a memory minimum', () => {
    const cache = new RankingCache(url);
    const plain = version([variant('original', {})]);
    expect(cache.rank(plain, device('x', { memoryMB: 512 }), null)).toBe(cache.rank(plain, device('y', { memoryMB: 8192 }), null));
    const big = version([variant('original', { minMemoryMB: 1024 })]);
    expect(cache.rank(big, device('x', { memoryMB: 512 }), null).candidates).toHaveLength(0);
    expect(cache.rank(big, device('y', { memoryMB: 8192 }), null).candidates).toHaveLength(2);
  });

  it('starts afresh with a new serving version', () => {
    const cache = new RankingCache(url);
    const d = device('x');
    expect(cache.rank(version([variant('original', {})]), d, null)).not.toBe(cache.rank(version([variant('original', {})]), d, null));
  });
});
