/**
 * How outputs become labelled classes, as set in the model's metadata (`metadata.postprocessing`).
 *
 * @example
 * ```json
 * { "type": "classification", "softmax": true, "topK": 3 }
 * ```
 */
export interface ClassificationPostprocessing {
  type: 'classification';
  /** Output to read. @defaultValue the model's first output */
  output?: string;
  /** Apply softmax to the scores (false when the model already outputs probabilities). @defaultValue true */
  softmax?: boolean;
  /** Classes returned. @defaultValue 5 */
  topK?: number;
}

/** One class of a classification, best first. */
export interface Classification {
  label: string;
  index: number;
  score: number;
}

/** Numerically stable softmax. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/** The `k` best scores with their labels (the index as label when there are no labels). */
export function topK(scores: ArrayLike<number>, k: number, labels?: readonly string[]): Classification[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  return order.slice(0, Math.max(0, k)).map((index) => ({ label: labels?.[index] ?? String(index), index, score: scores[index]! }));
}
