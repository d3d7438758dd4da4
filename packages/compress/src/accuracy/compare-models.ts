import { CompressionError } from '../compression-error.js';
import type { AccuracyMetrics, EvaluationFeed } from './evaluation-types.js';
import { createSession, ort } from './onnx-runtime.js';
import { OutputComparison } from './output-comparison.js';

/** The variant (not the original) failed to load or run: a broken rewrite, reported as such. */
export class VariantRunFailure extends Error {
  override readonly name = 'VariantRunFailure';
}

/**
 * Runs the original and the variant on every feed and compares all their outputs.
 *
 * @param synthesised - whether the feeds were made up from the signature (changes the advice
 * in errors).
 * @throws {@link CompressionError} when the original cannot load (`unsupported_model`) or
 * cannot run on a feed (`invalid_evaluation_set`); {@link VariantRunFailure} when the variant
 * cannot.
 */
export async function compareModels(
  original: Uint8Array,
  variant: Uint8Array,
  feeds: readonly EvaluationFeed[],
  synthesised: boolean,
  onFeed?: (done: number) => void,
): Promise<AccuracyMetrics> {
  const originalSession = await createSession(original).catch((error: unknown) => {
    throw new CompressionError('unsupported_model', `onnxruntime cannot load the model: ${messageOf(error)}`, { cause: error });
  });
  try {
    const variantSession = await createSession(variant).catch((error: unknown) => {
      throw new VariantRunFailure(`the variant does not load in onnxruntime: ${messageOf(error)}`, { cause: error });
    });
    try {
      const comparison = new OutputComparison();
      for (const [index, feed] of feeds.entries()) {
        const inputs = toOrtFeed(feed, originalSession.inputNames, index);
        const expected = await originalSession.run(inputs).catch((error: unknown) => {
          const advice = synthesised ? 'the model rejects inputs synthesised from its signature; pass an evaluation set' : 'check the evaluation set';
          throw new CompressionError('invalid_evaluation_set', `the model fails on evaluation input ${index}: ${messageOf(error)} (${advice})`, {
            cause: error,
          });
        });
        const actual = await variantSession.run(inputs).catch((error: unknown) => {
          throw new VariantRunFailure(`the variant fails on evaluation input ${index}: ${messageOf(error)}`, { cause: error });
        });
        for (const name of originalSession.outputNames) {
          const a = expected[name];
          const b = actual[name];
          if (a === undefined || b === undefined) throw new VariantRunFailure(`the variant does not produce output "${name}"`);
          comparison.add(a, b);
        }
        onFeed?.(index + 1);
      }
      return comparison.metrics(feeds.length);
    } finally {
      await variantSession.release();
    }
  } finally {
    await originalSession.release();
  }
}

function toOrtFeed(feed: EvaluationFeed, inputNames: readonly string[], index: number): Record<string, ort.Tensor> {
  const names = Object.keys(feed);
  const missing = inputNames.filter((n) => !(n in feed));
  const unknown = names.filter((n) => !inputNames.includes(n));
  if (missing.length > 0 || unknown.length > 0) {
    const parts = [missing.length ? `lacks ${missing.join(', ')}` : '', unknown.length ? `has unknown ${unknown.join(', ')}` : ''];
    throw new CompressionError(
      'invalid_evaluation_set',
      `evaluation input ${index} ${parts.filter(Boolean).join(' and ')}; the model's inputs are ${inputNames.join(', ')}`,
    );
  }
  const tensors: Record<string, ort.Tensor> = {};
  for (const name of inputNames) {
    const tensor = feed[name];
    if (tensor === undefined) continue;
    tensors[name] = tensor instanceof ort.Tensor ? tensor : new ort.Tensor(tensor.type, tensor.data, tensor.dims);
  }
  return tensors;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
