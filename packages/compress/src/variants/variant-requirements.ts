import type { VariantRequirements } from './variant-build-result.js';
import type { VariantFamily } from './variant-kind.js';

/**
 * What each kind needs. All three compute in float32. fp16 and int8 decode their weights with
 * `Cast` / `DequantizeLinear` / `Mul` at load, which onnxruntime's wasm and WebGPU backends run
 * (WebGPU falls back to the CPU kernels where it lacks one) but the older WebGL backend does
 * not; pruned weights are plain float32 and run wherever the original does.
 */
export function requirementsOf(family: VariantFamily): VariantRequirements {
  const backends = family === 'pruned' ? ['webgpu', 'webgl', 'wasm', 'cpu'] : ['webgpu', 'wasm', 'cpu'];
  return { format: 'onnx', backends, features: [] };
}
