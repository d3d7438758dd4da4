import type { ModelProto } from 'onnx-buf';
import { readFloat32, writeFloat32 } from '../model-graph/tensor-values.js';
import { floatWeights } from './float-weights.js';

/**
 * Magnitude pruning: in each weight matrix or filter of at least `minElements` values, sets the
 * `sparsity` fraction of smallest-magnitude values to zero (ties broken by position, so the
 * result is deterministic). Values stay float32; runs of zeros compress well on the wire.
 * Biases and norm parameters are left alone. Returns how many weights were pruned.
 */
export function pruneWeights(model: ModelProto, sparsity: number, minElements: number): number {
  let count = 0;
  for (const weight of floatWeights(model)) {
    if (weight.elements < minElements || weight.channelAxis === null) continue;
    const values = readFloat32(weight.tensor);
    if (zeroSmallest(values, sparsity) > 0) {
      writeFloat32(weight.tensor, values);
      count++;
    }
  }
  return count;
}

/** Sets the `fraction` smallest-magnitude values to zero, in place; returns how many. */
export function zeroSmallest(values: Float32Array, fraction: number): number {
  const target = Math.floor(values.length * fraction);
  if (target === 0) return 0;
  const sorted = new Float32Array(values.length);
  // A plain loop: Float32Array.from with a map function is ~25× slower.
  for (let i = 0; i < values.length; i++) sorted[i] = Math.abs(values[i] as number);
  sorted.sort();
  const threshold = sorted[target - 1] as number;
  let ties = target;
  for (const v of sorted) {
    if (v >= threshold) break;
    ties--;
  }
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i] as number);
    if (magnitude < threshold) values[i] = 0;
    else if (magnitude === threshold && ties > 0) {
      values[i] = 0;
      ties--;
    }
  }
  return target;
}
