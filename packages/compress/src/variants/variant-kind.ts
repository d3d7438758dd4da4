import { CompressionError } from '../compression-error.js';

/**
 * A derived variant of a model:
 * - `fp16`: float32 weights stored as float16, cast back to float32 at load (runs everywhere);
 * - `int8`: weight-only int8 quantization, per output channel, dequantized at load;
 * - `pruned-<n>`: the `n` % smallest-magnitude weights of each weight matrix set to zero, still
 *   float32, so the bytes compress well on the wire (`n` from 1 to 99).
 */
export type VariantKind = 'fp16' | 'int8' | `pruned-${number}`;

/** The three families of {@link VariantKind}. */
export type VariantFamily = 'fp16' | 'int8' | 'pruned';

/**
 * Checks a variant name, such as a job's or a CLI argument's, and returns it typed.
 *
 * @throws {@link CompressionError} `invalid_variant_kind` for anything but `fp16`, `int8` or
 * `pruned-<1–99>`.
 *
 * @example
 * ```ts
 * parseVariantKind('pruned-50'); // 'pruned-50'
 * parseVariantKind('pruned-0');  // throws CompressionError (invalid_variant_kind)
 * ```
 */
export function parseVariantKind(text: string): VariantKind {
  if (text === 'fp16' || text === 'int8') return text;
  const match = /^pruned-([1-9][0-9]?)$/.exec(text);
  if (match) return `pruned-${Number(match[1])}`;
  throw new CompressionError('invalid_variant_kind', `unknown variant kind "${text}"; expected fp16, int8 or pruned-<1–99> (e.g. pruned-50)`);
}

/** The family of a kind and, for pruning, the fraction of weights set to zero. */
export function describeVariantKind(kind: VariantKind): { family: VariantFamily; sparsity: number } {
  if (kind === 'fp16' || kind === 'int8') return { family: kind, sparsity: 0 };
  return { family: 'pruned', sparsity: Number(kind.slice('pruned-'.length)) / 100 };
}
