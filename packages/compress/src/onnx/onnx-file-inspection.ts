/**
 * A graph input or output: its name, element type and shape.
 * Structurally identical to `TensorInfo` in `@ferry/protocol`.
 */
export interface TensorInfo {
  name: string;
  /**
   * ONNX element type name such as `float32`, `float16`, `int64`, `uint8`, `bool` or `string`;
   * `unknown` when the model does not say. Non-tensor values read `sequence(float32)`,
   * `map(int64,float32)`, `optional(float32)` or `sparse(float32)`.
   */
  type: string;
  /**
   * Dimensions: a number for a fixed size, a string for a named dynamic dimension (`'N'`),
   * null for an unnamed or unknown one. Null when the model gives no shape at all.
   */
  shape: (number | string | null)[] | null;
}

/** An operator set the model imports; `domain` is `''` for the default ONNX domain. */
export interface OpsetImport {
  domain: string;
  version: number;
}

/** What {@link inspectOnnxFile} learns about a model. */
export interface OnnxFileInspection {
  irVersion: number;
  opsets: OpsetImport[];
  /** Producer name, followed by its version when the model records one; null if absent. */
  producer: string | null;
  /** Graph inputs a caller feeds (initializers listed among the inputs are left out) and outputs. */
  io: { inputs: TensorInfo[]; outputs: TensorInfo[] };
  /**
   * Number of weights: elements of every initializer and every `Constant` node's value,
   * subgraphs included. A sparse tensor counts its stored values.
   */
  parameterCount: number;
  /** Bytes those weights take at their stored precision (sparse tensors include their indices). */
  parameterBytes: number;
  /**
   * Count of nodes per operator, subgraphs included. Operators outside the default domain
   * are keyed `domain::OpType`, such as `com.microsoft::FusedConv`.
   */
  operators: Record<string, number>;
  /** True when some tensor keeps its data in an external file next to the model. */
  externalData: boolean;
}
