// Tiny wasm modules that only validate where the feature exists (as wasm-feature-detect does).
const SIMD = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
const THREADS = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11,
]);

let known: { simd: boolean; threads: boolean } | null = null;

/** `wasm-simd` and `wasm-threads` (atomics + SharedArrayBuffer) when this runtime has them (checked once: each client's probe asks). */
export function wasmFeatures(): { simd: boolean; threads: boolean } {
  known ??= detect();
  return known;
}

function detect(): { simd: boolean; threads: boolean } {
  const wasm = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
  if (!wasm) return { simd: false, threads: false };
  const valid = (bytes: Uint8Array) => {
    try {
      return wasm.validate(bytes as Uint8Array<ArrayBuffer>);
    } catch {
      return false;
    }
  };
  return { simd: valid(SIMD), threads: typeof SharedArrayBuffer !== 'undefined' && valid(THREADS) };
}
