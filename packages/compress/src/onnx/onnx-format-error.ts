/**
 * Thrown when bytes are not a well-formed ONNX model: empty, truncated, corrupt, or a
 * protobuf message of another kind. The message says what is wrong and, where it helps,
 * at which byte.
 *
 * @example
 * ```ts
 * try {
 *   await inspectOnnxFile(path);
 * } catch (error) {
 *   if (error instanceof OnnxFormatError) reply(422, error.code, error.message);
 *   else throw error;
 * }
 * ```
 */
export class OnnxFormatError extends Error {
  /** Stable error code shared with `@ferry/protocol`. */
  readonly code = 'invalid_onnx' as const;
  override readonly name = 'OnnxFormatError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
