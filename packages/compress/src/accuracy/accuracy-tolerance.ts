import type { VariantFamily } from '../variants/variant-kind.js';
import type { AccuracyMetrics, AccuracyTolerance } from './evaluation-types.js';

/**
 * Default tolerances per kind. fp16 weights carry ~3 significant digits, so outputs should be
 * all but identical; int8 weights (per channel) lose a little more; pruning without
 * fine-tuning loses the most and is only published when the model tolerates it.
 */
export const DEFAULT_TOLERANCES: Readonly<Record<VariantFamily, Readonly<AccuracyTolerance>>> = {
  fp16: { minCosine: 0.999, minTop1Agreement: 0.99 },
  int8: { minCosine: 0.99, minTop1Agreement: 0.98 },
  pruned: { minCosine: 0.98, minTop1Agreement: 0.97 },
};

/** Why metrics miss a tolerance, one human-readable sentence each; empty when they meet it. */
export function accuracyShortfalls(metrics: AccuracyMetrics, tolerance: AccuracyTolerance): string[] {
  const shortfalls: string[] = [];
  if (!(metrics.cosine >= tolerance.minCosine)) {
    shortfalls.push(`cosine similarity ${metrics.cosine.toFixed(5)} is below the tolerance ${tolerance.minCosine}`);
  }
  if (metrics.top1Agreement !== undefined && !(metrics.top1Agreement >= tolerance.minTop1Agreement)) {
    shortfalls.push(`top-1 agreement ${percent(metrics.top1Agreement)} is below the tolerance ${percent(tolerance.minTop1Agreement)}`);
  }
  if (tolerance.maxAbsError !== undefined && !(metrics.maxAbsError <= tolerance.maxAbsError)) {
    shortfalls.push(`max abs error ${metrics.maxAbsError.toPrecision(3)} is above the tolerance ${tolerance.maxAbsError}`);
  }
  return shortfalls;
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)} %`;
}
