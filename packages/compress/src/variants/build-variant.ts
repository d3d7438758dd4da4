import { createHash } from 'node:crypto';
import type { ModelProto } from 'onnx-buf';
import { accuracyShortfalls, DEFAULT_TOLERANCES } from '../accuracy/accuracy-tolerance.js';
import { compareModels, VariantRunFailure } from '../accuracy/compare-models.js';
import { evaluationFeeds, graphInputs } from '../accuracy/evaluate-accuracy.js';
import type { AccuracyMetrics, AccuracyTolerance } from '../accuracy/evaluation-types.js';
import { brotli, precompress } from '../encodings/precompress.js';
import { defaultOpset } from '../model-graph/graph-scopes.js';
import { normalizeModelProto } from '../normalize/normalize-model.js';
import { readCompressibleModel } from '../normalize/read-compressible-model.js';
import { writeModel } from '../onnx/model-codec.js';
import { storeWeightsAsFloat16 } from './fp16-weights.js';
import { quantizeWeightsInt8 } from './int8-weights.js';
import { pruneWeights } from './pruned-weights.js';
import type { VariantBuildOptions, VariantBuildResult, VariantBuildStage } from './variant-build-result.js';
import { describeVariantKind, parseVariantKind, type VariantFamily, type VariantKind } from './variant-kind.js';
import { requirementsOf } from './variant-requirements.js';

const DEFAULT_MIN_ELEMENTS: Record<VariantFamily, number> = { fp16: 16, int8: 1024, pruned: 1024 };

/**
 * Builds one variant of an ONNX model and decides whether it may be published: normalises the
 * model, rewrites its weights, runs it next to the original through the accuracy gate, and
 * pre-compresses it. Plain data in and out, so it runs as well in a worker thread as in the CLI.
 *
 * The variant is `ready` when its accuracy meets the tolerance (the kind's default, overridden
 * by `options.tolerance`) and its brotli size is below the original's; otherwise `rejected`
 * with the reason. The same input and options always give the same bytes.
 *
 * @throws {@link CompressionError} when no variant can be built: `invalid_variant_kind`,
 * `invalid_onnx`, `external_data`, `unsupported_model`, `invalid_evaluation_set`.
 *
 * @example
 * ```ts
 * const result = await buildVariant(original, parseVariantKind('int8'), {
 *   onProgress: (fraction, stage) => job.progress(fraction, stage),
 * });
 * if (result.status === 'ready') await store(result.bytes, result.encodings);
 * else console.log(`int8 rejected: ${result.reason}`);
 * ```
 */
export async function buildVariant(original: Uint8Array, kind: VariantKind, options: VariantBuildOptions = {}): Promise<VariantBuildResult> {
  const started = performance.now();
  const progress = (fraction: number, stage: VariantBuildStage) => options.onProgress?.(fraction, stage);
  const checkedKind = parseVariantKind(kind);
  const { family, sparsity } = describeVariantKind(checkedKind);

  progress(0, 'normalize');
  const model = readCompressibleModel(original);
  normalizeModelProto(model);
  const inputs = graphInputs(model);
  // Fail on a bad evaluation set before any work is spent on the variant.
  const { feeds, synthesised } = evaluationFeeds(inputs, options.evaluation ?? {});

  progress(0.1, 'transform');
  const rewritten = rewriteWeights(model, family, sparsity, options);
  const bytes = writeModel(model);
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  // Compression runs on the thread pool while onnxruntime evaluates here.
  const encodingsPromise = precompress(bytes, options.precompress);
  const originalBrotliPromise =
    options.originalBrotliSize !== undefined
      ? Promise.resolve(options.originalBrotliSize)
      : brotli(original, options.precompress).then((b) => b.length);
  // Never left unhandled if evaluation throws first.
  encodingsPromise.catch(() => undefined);
  originalBrotliPromise.catch(() => undefined);

  progress(0.2, 'evaluate');
  const reasons: string[] = [];
  if (rewritten === 0) reasons.push(`no weight tensor qualified for ${checkedKind}, so the variant holds the original's weights`);
  let accuracy: AccuracyMetrics;
  try {
    accuracy = await compareModels(original, bytes, feeds, synthesised, (done) => progress(0.2 + (0.6 * done) / feeds.length, 'evaluate'));
  } catch (error) {
    if (!(error instanceof VariantRunFailure)) throw error;
    accuracy = { maxAbsError: Number.MAX_VALUE, cosine: 0, samples: 0 };
    reasons.push(error.message);
  }
  const tolerance: AccuracyTolerance = { ...DEFAULT_TOLERANCES[family], ...definedFields(options.tolerance) };
  if (accuracy.samples > 0) reasons.push(...accuracyShortfalls(accuracy, tolerance));

  progress(0.8, 'precompress');
  const [encodings, originalBrotliSize] = await Promise.all([encodingsPromise, originalBrotliPromise]);
  const brotliSize = encodings.find((e) => e.encoding === 'br')?.size ?? bytes.length;
  if (brotliSize >= originalBrotliSize) {
    reasons.push(`it is not smaller on the wire: ${brotliSize} bytes with brotli, the original ${originalBrotliSize}`);
  }

  progress(1, 'done');
  const result: VariantBuildResult = {
    kind: checkedKind,
    bytes,
    sha256,
    size: bytes.length,
    encodings,
    accuracy,
    tolerance,
    status: reasons.length === 0 ? 'ready' : 'rejected',
    requires: requirementsOf(family),
    buildMs: performance.now() - started,
  };
  if (reasons.length > 0) result.reason = `${checkedKind} rejected: ${reasons.join('; ')}`;
  return result;
}

function rewriteWeights(model: ModelProto, family: VariantFamily, sparsity: number, options: VariantBuildOptions): number {
  const minElements = options.weights?.minElements ?? DEFAULT_MIN_ELEMENTS[family];
  switch (family) {
    case 'fp16':
      return storeWeightsAsFloat16(model, minElements);
    case 'int8':
      // readCompressibleModel guarantees a default-domain opset.
      return quantizeWeightsInt8(model, defaultOpset(model) ?? 0, { perChannel: options.weights?.perChannel ?? true, minElements });
    case 'pruned':
      return pruneWeights(model, sparsity, minElements);
  }
}

function definedFields<T extends object>(partial: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(partial ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
