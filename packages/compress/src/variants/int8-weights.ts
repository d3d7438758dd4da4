import { TensorProto_DataType, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { makeNode } from '../model-graph/graph-scopes.js';
import { NameAllocator } from '../model-graph/name-allocator.js';
import { rawTensor, readFloat32 } from '../model-graph/tensor-values.js';
import { floatWeights } from './float-weights.js';
import { GraphRewrite } from './graph-rewrite.js';
import type { ChannelAxis } from './weight-slots.js';

/** How {@link quantizeWeightsInt8} chooses and quantizes weights. */
export interface Int8Settings {
  /** One scale per output channel rather than per tensor. */
  perChannel: boolean;
  /** Weights with fewer elements stay float32. */
  minElements: number;
}

/** Symmetric int8 range: −127…127, so that zero is exact and no zero point is needed. */
const QMAX = 127;

/**
 * Stores the weight matrices and filters of a model as int8 with float32 scales (symmetric,
 * per output channel by default), decoded at load by `DequantizeLinear` where the opset
 * allows it (per-tensor from 10, per-channel from 13) and by `Cast` + `Mul` otherwise.
 * Biases, norm parameters and tensors below `minElements` stay float32. Returns how many
 * weights were quantized.
 */
export function quantizeWeightsInt8(model: ModelProto, opset: number, settings: Int8Settings): number {
  const names = new NameAllocator(model);
  const rewrite = new GraphRewrite();
  for (const weight of floatWeights(model)) {
    if (weight.elements < settings.minElements) continue;
    const slot = weight.channelAxis;
    if (slot === null) continue;
    const values = readFloat32(weight.tensor);
    if (!values.every(Number.isFinite)) continue;
    const axis: ChannelAxis = settings.perChannel ? slot : 'tensor';
    const { data, scales } = quantizeSymmetric(values, weight.dims, axis);
    const { tensor } = weight;
    const quantizedName = names.unique(`${tensor.name}_quantized`);
    const scaleName = names.unique(`${tensor.name}_scale`);
    const encoded: TensorProto[] = [rawTensor(quantizedName, tensor.dims, TensorProto_DataType.INT8, data)];
    const decoders: NodeProto[] = [];
    const dequantizeLinear = axis === 'tensor' ? opset >= 10 : opset >= 13;
    if (dequantizeLinear) {
      encoded.push(rawTensor(scaleName, axis === 'tensor' ? [] : [BigInt(scales.length)], TensorProto_DataType.FLOAT, scales));
      const attributes = axis === 'tensor' ? {} : { int: { axis } };
      decoders.push(makeNode('DequantizeLinear', [quantizedName, scaleName], [tensor.name], names.unique(`${tensor.name}_dequantize`), attributes));
    } else {
      // Shaped [C, 1, …, 1] to broadcast along `axis` from the right.
      const scaleDims = axis === 'tensor' ? [] : [BigInt(scales.length), ...weight.dims.slice(axis + 1).map(() => 1n)];
      encoded.push(rawTensor(scaleName, scaleDims, TensorProto_DataType.FLOAT, scales));
      const castName = names.unique(`${tensor.name}_as_float`);
      decoders.push(
        makeNode('Cast', [quantizedName], [castName], names.unique(`${tensor.name}_cast`), { int: { to: TensorProto_DataType.FLOAT } }),
        makeNode('Mul', [castName, scaleName], [tensor.name], names.unique(`${tensor.name}_rescale`)),
      );
    }
    rewrite.replace(weight.scope.graph, tensor, encoded, decoders);
  }
  return rewrite.apply();
}

/**
 * Symmetric quantization: per channel of `axis` (or the whole tensor), scale = max |w| / 127 and
 * q = round(w / scale).
 */
export function quantizeSymmetric(
  values: Float32Array,
  dims: readonly number[],
  axis: ChannelAxis,
): { data: Int8Array<ArrayBuffer>; scales: Float32Array<ArrayBuffer> } {
  const channels = axis === 'tensor' ? 1 : (dims[axis] ?? 1);
  const inner = axis === 'tensor' ? values.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = values.length / (channels * inner);
  const maxAbs = new Float64Array(channels);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let m = maxAbs[c] as number;
      for (let k = 0; k < inner; k++, i++) m = Math.max(m, Math.abs(values[i] as number));
      maxAbs[c] = m;
    }
  }
  // An all-zero channel quantizes to zeros with any scale.
  const scales = Float32Array.from(maxAbs, (m) => (m > 0 ? m / QMAX : 1));
  const data = new Int8Array(values.length);
  for (let o = 0, i = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = scales[c] as number;
      for (let k = 0; k < inner; k++, i++) {
        const q = Math.round((values[i] as number) / scale);
        data[i] = q > QMAX ? QMAX : q < -QMAX ? -QMAX : q;
      }
    }
  }
  return { data, scales };
}
