import type { TensorInfo } from '@ferry/protocol';

/** Typed arrays a tensor can hold. */
export type TensorArray =
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

/** A tensor as plain data: what `run` accepts besides runtime tensors, and what it returns. */
export interface TensorLike {
  /** ONNX element type name: `float32`, `int64`, `uint8`, `bool`, `string`, … */
  readonly type: string;
  readonly data: TensorArray | readonly string[];
  readonly dims: readonly number[];
}

/** One loaded model on one backend. */
export interface ModelSession {
  readonly backend: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Input shapes as the runtime read them from the model, when it can. */
  readonly inputInfo?: readonly TensorInfo[] | undefined;
  run(feeds: Record<string, unknown>): Promise<Record<string, TensorLike>>;
  release(): Promise<void>;
}

/**
 * What runs models: onnxruntime-web by default ({@link createOrtRuntime}); tests and other
 * runtimes plug in here.
 */
export interface InferenceRuntime {
  /** `onnxruntime-web`, … */
  readonly name: string;
  /** Whether this runtime can drive `backend` (a device API backend name) at all. */
  supports(backend: string): boolean;
  /** Loads `bytes` on `backend`; rejects when the backend does not initialise. */
  createSession(bytes: Uint8Array, backend: string): Promise<ModelSession>;
  /** A runtime tensor from plain data (feeds of `run` may be either). */
  tensor(type: string, data: TensorLike['data'], dims: readonly number[]): unknown;
}

const ARRAYS: Record<string, new (length: number) => TensorArray> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

/** Maps ONNX type spellings (`tensor(float)`, `float`, `FLOAT`) to runtime names (`float32`). */
export function normaliseType(type: string): string {
  const t = type.toLowerCase().replace(/^tensor\((.*)\)$/, '$1');
  return ({ float: 'float32', double: 'float64', half: 'float16', boolean: 'bool' } as Record<string, string>)[t] ?? t;
}

/**
 * Zero-filled feeds for a warm-up run, from the inputs' signature (dynamic dimensions become 1).
 * Null when a type or shape is unknown.
 */
export function warmUpFeeds(runtime: InferenceRuntime, inputs: readonly TensorInfo[]): Record<string, unknown> | null {
  const feeds: Record<string, unknown> = {};
  for (const input of inputs) {
    const type = normaliseType(input.type);
    if (!input.shape) return null;
    const dims = input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const count = dims.reduce((a, b) => a * b, 1);
    if (type === 'string') {
      feeds[input.name] = runtime.tensor(type, new Array<string>(count).fill(''), dims);
      continue;
    }
    const ctor = ARRAYS[type];
    if (!ctor) return null;
    feeds[input.name] = runtime.tensor(type, new ctor(count), dims);
  }
  return feeds;
}
