import { CompressionError } from '../compression-error.js';
import type { TensorInfo } from '../onnx/onnx-file-inspection.js';
import type { EvaluationFeed, EvaluationTensor, EvaluationTensorType } from './evaluation-types.js';
import { seededRandom } from './seeded-random.js';
import { toFloat16Bits } from '../variants/float16.js';

/** Settings of {@link synthesizeFeeds}. */
export interface SynthesisSettings {
  samples: number;
  seed: number;
  dynamicDimension: number;
}

/** ONNX element type names (as {@link TensorInfo} gives them) onnxruntime calls differently. */
const ORT_TYPE: Record<string, EvaluationTensorType> = { double: 'float64' };
/** Integer inputs (token ids, indices, masks) get values in 0…SMALL_INT−1. */
const SMALL_INT = 10;

/**
 * Seeded-random feeds for the given graph inputs: floats uniform in [0, 1), integers in 0–9,
 * booleans either way; dynamic dimensions get `dynamicDimension`.
 *
 * @throws {@link CompressionError} `invalid_evaluation_set` for an input whose type or shape
 * cannot be synthesised (strings, sequences, no shape): such models need an evaluation set.
 */
export function synthesizeFeeds(inputs: readonly TensorInfo[], settings: SynthesisSettings): EvaluationFeed[] {
  const random = seededRandom(settings.seed);
  const feeds: EvaluationFeed[] = [];
  for (let s = 0; s < settings.samples; s++) {
    const feed: Record<string, EvaluationTensor> = {};
    for (const input of inputs) feed[input.name] = synthesizeTensor(input, settings.dynamicDimension, random);
    feeds.push(feed);
  }
  return feeds;
}

function synthesizeTensor(input: TensorInfo, dynamicDimension: number, random: () => number): EvaluationTensor {
  const cannot = (why: string) =>
    new CompressionError('invalid_evaluation_set', `cannot synthesise input "${input.name}": ${why}; pass an evaluation set`);
  if (input.shape === null) throw cannot('the model declares no shape for it');
  const dims = input.shape.map((d) => (typeof d === 'number' ? d : dynamicDimension));
  const length = dims.reduce((a, b) => a * b, 1);
  const type = ORT_TYPE[input.type] ?? input.type;
  const floats = () => Float32Array.from({ length }, random);
  const ints = () => Array.from({ length }, () => Math.floor(random() * SMALL_INT));
  switch (type) {
    case 'float32':
      return { type, data: floats(), dims };
    case 'float16':
      return { type, data: toFloat16Bits(floats()), dims };
    case 'float64':
      return { type, data: Float64Array.from({ length }, random), dims };
    case 'int8':
      return { type, data: Int8Array.from(ints()), dims };
    case 'uint8':
      return { type, data: Uint8Array.from(ints()), dims };
    case 'int16':
      return { type, data: Int16Array.from(ints()), dims };
    case 'uint16':
      return { type, data: Uint16Array.from(ints()), dims };
    case 'int32':
      return { type, data: Int32Array.from(ints()), dims };
    case 'uint32':
      return { type, data: Uint32Array.from(ints()), dims };
    case 'int64':
      return { type, data: BigInt64Array.from(ints(), BigInt), dims };
    case 'uint64':
      return { type, data: BigUint64Array.from(ints(), BigInt), dims };
    case 'bool':
      return { type, data: Uint8Array.from({ length }, () => (random() < 0.5 ? 1 : 0)), dims };
    default:
      throw cannot(`its type is ${input.type}`);
  }
}
