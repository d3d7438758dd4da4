import { TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { makeNode } from '../model-graph/graph-scopes.js';
import { NameAllocator } from '../model-graph/name-allocator.js';
import { rawTensor, readFloat32 } from '../model-graph/tensor-values.js';
import { floatWeights } from './float-weights.js';
import { FLOAT16_MAX, toFloat16Bits } from './float16.js';
import { GraphRewrite } from './graph-rewrite.js';

/**
 * Stores every float32 weight of at least `minElements` values as float16, with a `Cast` back
 * to float32 under the original name, so the graph still computes in float32 and runs on any
 * backend. Weights with a finite value beyond the float16 range (±65504) stay float32.
 * Returns how many weights were converted.
 */
export function storeWeightsAsFloat16(model: ModelProto, minElements: number): number {
  const names = new NameAllocator(model);
  const rewrite = new GraphRewrite();
  for (const weight of floatWeights(model)) {
    if (weight.elements < minElements) continue;
    const values = readFloat32(weight.tensor);
    if (values.some((v) => Number.isFinite(v) && Math.abs(v) > FLOAT16_MAX)) continue;
    const { tensor } = weight;
    const storedName = names.unique(`${tensor.name}_fp16`);
    const stored = rawTensor(storedName, tensor.dims, TensorProto_DataType.FLOAT16, toFloat16Bits(values));
    const cast = makeNode('Cast', [storedName], [tensor.name], names.unique(`${tensor.name}_cast`), {
      int: { to: TensorProto_DataType.FLOAT },
    });
    rewrite.replace(weight.scope.graph, tensor, [stored], [cast]);
  }
  return rewrite.apply();
}
