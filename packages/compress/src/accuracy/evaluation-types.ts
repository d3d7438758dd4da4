/** Element types an evaluation input may have (onnxruntime's names). */
export type EvaluationTensorType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/**
 * One input tensor of an evaluation set. Plain data, so it crosses `postMessage` to a worker;
 * an `onnxruntime` `Tensor` also fits. `float16` data is the raw bits in a `Uint16Array`,
 * `bool` data a `Uint8Array` of 0 and 1.
 */
export interface EvaluationTensor {
  type: EvaluationTensorType;
  data:
    | Float32Array
    | Float64Array
    | Int8Array
    | Uint8Array
    | Int16Array
    | Uint16Array
    | Int32Array
    | Uint32Array
    | BigInt64Array
    | BigUint64Array;
  dims: readonly number[];
}

/** The inputs of one model run, by input name. */
export type EvaluationFeed = Readonly<Record<string, EvaluationTensor>>;

/** Which inputs the accuracy gate runs the models on. */
export interface EvaluationOptions {
  /**
   * An evaluation set: one feed per run, each naming every model input. When absent, inputs are
   * synthesised from the model's input signature.
   */
  inputs?: readonly EvaluationFeed[];
  /** Runs with synthesised inputs. @defaultValue 8 */
  samples?: number;
  /** Seed of the synthesised inputs. @defaultValue 1 */
  seed?: number;
  /**
   * Size given to dynamic dimensions (a named one such as `batch`, or an unknown one) when
   * synthesising inputs. @defaultValue 4
   */
  dynamicDimension?: number;
}

/**
 * How close a variant's outputs are to the original's, over every output of every run.
 * Matches `Accuracy` in `@ferry/protocol`.
 */
export interface AccuracyMetrics {
  /**
   * Largest absolute difference between corresponding output values. `Number.MAX_VALUE` when an
   * output differs in shape or type, or is NaN or infinite in one model and not the other
   * (kept finite so it survives JSON).
   */
  maxAbsError: number;
  /** Cosine similarity of all outputs flattened into one vector each (1 when identical). */
  cosine: number;
  /**
   * For outputs of rank ≥ 2 whose last dimension is ≥ 2 (classifier scores), the fraction of
   * rows whose arg-max agrees. Absent when no output looks like a classifier.
   */
  top1Agreement?: number;
  /** Number of runs (feeds) compared; a run may hold a batch of many rows. */
  samples: number;
}

/**
 * What a variant must reach to be published. Defaults per kind: fp16 cosine ≥ 0.999 and top-1
 * ≥ 0.99; int8 cosine ≥ 0.99 and top-1 ≥ 0.98; pruned cosine ≥ 0.98 and top-1 ≥ 0.97.
 */
export interface AccuracyTolerance {
  /** Lowest acceptable {@link AccuracyMetrics.cosine}. */
  minCosine: number;
  /** Lowest acceptable {@link AccuracyMetrics.top1Agreement}, when the model is a classifier. */
  minTop1Agreement: number;
  /** Highest acceptable {@link AccuracyMetrics.maxAbsError}; unchecked when absent. */
  maxAbsError?: number;
}
