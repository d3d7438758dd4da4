/**
 * Stable codes of {@link CompressionError}:
 * - `invalid_onnx`: the bytes are not an ONNX model (empty, truncated, random, another protobuf).
 * - `external_data`: some weights live in external data files; only self-contained models compress.
 * - `unsupported_model`: a well-formed model Ferry cannot rewrite or run, such as weights inside a
 *   subgraph of an operator other than `If`, `Loop` or `Scan`, an opset older than 7, or a model
 *   onnxruntime cannot load.
 * - `invalid_variant_kind`: a variant name that is not `fp16`, `int8` or `pruned-<1–99>`.
 * - `invalid_evaluation_set`: evaluation inputs that do not match the model's inputs, or inputs
 *   that cannot be synthesised from the model's signature.
 */
export type CompressionErrorCode = 'invalid_onnx' | 'external_data' | 'unsupported_model' | 'invalid_variant_kind' | 'invalid_evaluation_set';

/**
 * Thrown when a variant cannot be built at all, as opposed to a variant that was built but
 * rejected by the accuracy gate (that is a result with `status: 'rejected'`). The message is
 * meant for the person who uploaded the model.
 *
 * @example
 * ```ts
 * try {
 *   await buildVariant(bytes, 'int8');
 * } catch (error) {
 *   if (error instanceof CompressionError) job.fail(error.code, error.message);
 *   else throw error;
 * }
 * ```
 */
export class CompressionError extends Error {
  override readonly name = 'CompressionError';
  /** Stable code, safe to branch on and to show in an API response. */
  readonly code: CompressionErrorCode;

  constructor(code: CompressionErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
