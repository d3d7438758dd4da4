import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildMlp } from '../testing/index.js';
import { precompress } from './precompress.js';

describe('precompress', () => {
  it('gives brotli and gzip copies that decode to the same bytes, with their sizes', async () => {
    const bytes = buildMlp({ inputSize: 64, hidden: [32], outputs: 4 });
    const [br, gz] = await precompress(bytes);
    expect(br?.encoding).toBe('br');
    expect(gz?.encoding).toBe('gzip');
    expect(br?.size).toBe(br?.bytes.length);
    expect(gz?.size).toBe(gz?.bytes.length);
    expect(Buffer.from(brotliDecompressSync(br!.bytes)).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(gunzipSync(gz!.bytes)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('is deterministic, and zeros shrink on the wire', async () => {
    const zeros = new Uint8Array(100_000);
    const [a] = await precompress(zeros);
    const [b] = await precompress(zeros);
    expect(Buffer.from(a!.bytes).equals(Buffer.from(b!.bytes))).toBe(true);
    expect(a!.size).toBeLessThan(100);
  });
});
