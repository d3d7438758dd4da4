import type { ModelProto } from 'onnx-buf';
import { CompressionError } from '../compression-error.js';
import { readModel } from '../onnx/model-codec.js';
import type { TensorInfo } from '../onnx/onnx-file-inspection.js';
import { OnnxFormatError } from '../onnx/onnx-format-error.js';
import { tensorInfoOf } from '../onnx/tensor-info.js';
import { compareModels } from './compare-models.js';
import type { AccuracyMetrics, EvaluationFeed, EvaluationOptions } from './evaluation-types.js';
import { synthesizeFeeds } from './synthesize-inputs.js';

/**
 * Runs a variant next to the original in onnxruntime-web (wasm, one thread) and measures how
 * close its outputs are: on the given evaluation set, or on seeded inputs synthesised from the
 * original's input signature.
 *
 * @throws {@link CompressionError} `invalid_onnx` when the original is not a model,
 * `unsupported_model` when onnxruntime cannot load it, `invalid_evaluation_set` when the inputs
 * do not fit it. A variant that fails to load or run throws a plain `Error`.
 *
 * @example
 * ```ts
 * const { cosine, top1Agreement } = await evaluateAccuracy(original, int8, { inputs: digits });
 * ```
 */
export async function evaluateAccuracy(original: Uint8Array, variant: Uint8Array, options: EvaluationOptions = {}): Promise<AccuracyMetrics> {
  let model: ModelProto;
  try {
    model = readModel(original);
  } catch (error) {
    if (error instanceof OnnxFormatError) throw new CompressionError('invalid_onnx', error.message, { cause: error });
    throw error;
  }
  const { feeds, synthesised } = evaluationFeeds(graphInputs(model), options);
  return compareModels(original, variant, feeds, synthesised);
}

/** The feeds to evaluate on: the given ones, or synthesised from `inputs`. */
export function evaluationFeeds(
  inputs: readonly TensorInfo[],
  options: EvaluationOptions,
): { feeds: readonly EvaluationFeed[]; synthesised: boolean } {
  if (options.inputs !== undefined) {
    if (options.inputs.length === 0) throw new CompressionError('invalid_evaluation_set', 'the evaluation set is empty');
    return { feeds: options.inputs, synthesised: false };
  }
  const settings = { samples: options.samples ?? 8, seed: options.seed ?? 1, dynamicDimension: options.dynamicDimension ?? 4 };
  return { feeds: synthesizeFeeds(inputs, settings), synthesised: true };
}

/** The main graph's inputs a caller feeds: initializers listed among them are left out. */
export function graphInputs(model: ModelProto): TensorInfo[] {
  const initializers = new Set(model.graph?.initializer.map((t) => t.name));
  return (model.graph?.input ?? []).filter((i) => !initializers.has(i.name)).map(tensorInfoOf);
}
