import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Sha256Hasher } from '../platform.js';

/**
 * A portable incremental SHA-256 (WebCrypto has no streaming digest), for hashing bytes
 * while they arrive.
 */
export function portableSha256(): Sha256Hasher {
  const hash = sha256.create();
  return {
    update(chunk) {
      hash.update(chunk);
    },
    digestHex() {
      return bytesToHex(hash.digest());
    },
  };
}

type WasmModule = typeof import('./wasm-sha256.js');
let wasm: Promise<WasmModule | null> | null = null;

/** Starts loading the WebAssembly hasher (once per page or process), so that a download need not wait for it. */
export function preloadStreamingSha256(): Promise<WasmModule | null> {
  wasm ??=
    typeof WebAssembly === 'object'
      ? import('./wasm-sha256.js').then(
          async (m) => {
            await m.createWasmSha256(); // Compiles the module: a failure (CSP, no wasm) shows here.
            return m;
          },
          () => null,
        ).catch(() => null)
      : Promise.resolve(null);
  return wasm;
}

/**
 * An incremental SHA-256 for bytes as they arrive, on a platform without a native one (browsers:
 * WebCrypto cannot hash a stream). hash-wasm's WebAssembly build: in Chromium here it hashes
 * 7 MiB in ~35 ms where the portable one takes ~140 ms. The portable one where WebAssembly is
 * missing or refused (a React Native engine without it, a CSP without `wasm-unsafe-eval`).
 */
export async function streamingSha256(): Promise<Sha256Hasher> {
  const m = await preloadStreamingSha256();
  if (m) {
    try {
      return await m.createWasmSha256();
    } catch {
      // Out of memory for another instance, say: the portable one still works.
    }
  }
  return portableSha256();
}

/**
 * WebCrypto's one-shot SHA-256 (hex), where there is one (browsers in secure contexts): it copies
 * its input when called and hashes it off the main thread, with the CPU's SHA instructions.
 */
export function webCryptoSha256(): ((bytes: Uint8Array) => Promise<string>) | undefined {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle || typeof subtle.digest !== 'function') return undefined;
  return async (bytes) => bytesToHex(new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

/**
 * SHA-256 of bytes already in memory: the platform's native hasher when it has one (Node's
 * `crypto`, 4 ms for 7 MiB where WebCrypto takes 6–8 ms: it copies the bytes and hops to the
 * thread pool), else WebCrypto (browsers), else the portable one.
 */
export async function sha256Hex(bytes: Uint8Array, create?: () => Sha256Hasher): Promise<string> {
  if (create) {
    const h = create();
    h.update(bytes);
    return h.digestHex();
  }
  const webCrypto = webCryptoSha256();
  if (webCrypto) {
    try {
      return await webCrypto(bytes);
    } catch {
      // Some runtimes refuse shared or detached buffers: hash in JS instead.
    }
  }
  const h = portableSha256();
  h.update(bytes);
  return h.digestHex();
}

/** Above this, {@link sha256HexInSlices} does not hand bytes to WebCrypto whole (it copies them). */
const ONE_SHOT_MAX_BYTES = 128 * 1024 * 1024;
const SLICE_BYTES = 8 * 1024 * 1024;

/**
 * SHA-256 of bytes in memory for work behind a load: {@link sha256Hex}, except that large bytes
 * on a platform without a native hasher are hashed incrementally in slices, yielding between
 * them, instead of copied whole into WebCrypto (a 1 GiB model would briefly need 2 GiB).
 */
export async function sha256HexInSlices(bytes: Uint8Array, create?: () => Sha256Hasher): Promise<string> {
  if (create || bytes.byteLength <= ONE_SHOT_MAX_BYTES) return sha256Hex(bytes, create);
  const hasher = await streamingSha256();
  for (let at = 0; at < bytes.byteLength; at += SLICE_BYTES) {
    hasher.update(bytes.subarray(at, at + SLICE_BYTES));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return hasher.digestHex();
}
