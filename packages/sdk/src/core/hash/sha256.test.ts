import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';

const nodeSha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

afterEach(() => {
  vi.unstubAllGlobals();
  vi.resetModules();
});

describe('streamingSha256', () => {
  it('hashes bytes fed in uneven chunks as node:crypto does, with WebAssembly', async () => {
    const { streamingSha256 } = await import('./sha256.js');
    const wasm = await import('./wasm-sha256.js');
    const spy = vi.spyOn(wasm, 'createWasmSha256');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const hasher = await streamingSha256();
    // Compiled once to check that it can be, then one instance for this hasher: both made.
    expect(spy).toHaveBeenCalledTimes(2);
    await expect(spy.mock.results[1]!.value).resolves.toBe(hasher);
    for (let at = 0, step = 1; at < bytes.length; at += step, step = (step * 7 + 3) % 200_000 || 1) {
      hasher.update(bytes.subarray(at, Math.min(at + step, bytes.length)));
    }
    expect(hasher.digestHex()).toBe(nodeSha256(bytes));
    const empty = await streamingSha256();
    expect(empty.digestHex()).toBe(nodeSha256(new Uint8Array(0)));
  });

  it('gives each download its own state (two at once do not mix)', async () => {
    const { streamingSha256 } = await import('./sha256.js');
    const [a, b] = await Promise.all([streamingSha256(), streamingSha256()]);
    const x = randomBytes(100_000);
    const y = randomBytes(100_000);
    a.update(x.subarray(0, 50_000));
    b.update(y.subarray(0, 70_000));
    a.update(x.subarray(50_000));
    b.update(y.subarray(70_000));
    expect([a.digestHex(), b.digestHex()]).toEqual([nodeSha256(x), nodeSha256(y)]);
  });

  it('falls back to the portable hasher where WebAssembly cannot be compiled (a CSP without wasm-unsafe-eval)', async () => {
    const { streamingSha256 } = await import('./sha256.js');
    const wasm = await import('./wasm-sha256.js');
    const spy = vi.spyOn(wasm, 'createWasmSha256').mockRejectedValue(new WebAssembly.CompileError('refused by the CSP'));
    const bytes = randomBytes(200_000);
    const hasher = await streamingSha256();
    hasher.update(bytes);
    expect(hasher.digestHex()).toBe(nodeSha256(bytes));
    expect(spy).toHaveBeenCalledTimes(1); // The compile check failed: no instance was asked for after it.
  });

  it('falls back to the portable hasher where WebAssembly is missing (e.g. a React Native engine)', async () => {
    vi.stubGlobal('WebAssembly', undefined);
    const { streamingSha256 } = await import('./sha256.js');
    const wasm = await import('./wasm-sha256.js');
    const spy = vi.spyOn(wasm, 'createWasmSha256');
    const bytes = randomBytes(200_000);
    const hasher = await streamingSha256();
    hasher.update(bytes);
    expect(hasher.digestHex()).toBe(nodeSha256(bytes));
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('sha256HexInSlices', () => {
  it('hashes large bytes in slices without handing them to WebCrypto whole, small ones with it', async () => {
    const { sha256HexInSlices } = await import('./sha256.js');
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
    const large = randomBytes(128 * 1024 * 1024 + 5);
    expect(await sha256HexInSlices(large)).toBe(nodeSha256(large));
    expect(digest).not.toHaveBeenCalled();
    const small = randomBytes(1000);
    expect(await sha256HexInSlices(small)).toBe(nodeSha256(small));
    expect(digest).toHaveBeenCalledTimes(1);
    digest.mockRestore();
  });
});
