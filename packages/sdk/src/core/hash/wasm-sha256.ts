import { createSHA256 } from 'hash-wasm';
import type { Sha256Hasher } from '../platform.js';

/** hash-wasm's SHA-256 (WebAssembly), as a {@link Sha256Hasher}. Loaded on first use by sha256.ts. */
export async function createWasmSha256(): Promise<Sha256Hasher> {
  const hash = await createSHA256();
  return {
    update: (chunk) => void hash.update(chunk),
    digestHex: () => hash.digest('hex'),
  };
}
