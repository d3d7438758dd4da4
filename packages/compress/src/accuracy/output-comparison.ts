import { fromFloat16Bits } from '../variants/float16.js';
import type { AccuracyMetrics } from './evaluation-types.js';

/** An output tensor as onnxruntime returns it. */
export interface OutputTensor {
  type: string;
  data: unknown;
  dims: readonly number[];
}

const FLOAT_TYPES = new Set(['float32', 'float16', 'float64']);

/** Accumulates the accuracy metrics over the outputs of many runs. */
export class OutputComparison {
  private maxAbsError = 0;
  private dot = 0;
  private originalNorm = 0;
  private variantNorm = 0;
  private rows = 0;
  private agreeingRows = 0;
  private incomparable = false;

  /** Compares one output of one run. */
  add(original: OutputTensor, variant: OutputTensor): void {
    const a = numericValues(original);
    const b = numericValues(variant);
    if (a === undefined || b === undefined || a.length !== b.length || !sameDims(original.dims, variant.dims)) {
      if (!(a === undefined && b === undefined && sameStrings(original.data, variant.data))) this.incomparable = true;
      return;
    }
    for (let i = 0; i < a.length; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      if (Number.isFinite(x) && Number.isFinite(y)) {
        const difference = Math.abs(x - y);
        if (difference > this.maxAbsError) this.maxAbsError = difference;
        this.dot += x * y;
        this.originalNorm += x * x;
        this.variantNorm += y * y;
      } else if (!(x === y || (Number.isNaN(x) && Number.isNaN(y)))) {
        this.maxAbsError = Number.MAX_VALUE;
      }
    }
    const classes = original.dims[original.dims.length - 1] ?? 0;
    if (FLOAT_TYPES.has(original.type) && original.dims.length >= 2 && classes >= 2) {
      for (let start = 0; start < a.length; start += classes) {
        this.rows++;
        if (argMax(a, start, classes) === argMax(b, start, classes)) this.agreeingRows++;
      }
    }
  }

  /** The metrics so far, over `samples` runs. */
  metrics(samples: number): AccuracyMetrics {
    if (this.incomparable) return { maxAbsError: Number.MAX_VALUE, cosine: 0, ...(this.rows > 0 ? { top1Agreement: 0 } : {}), samples };
    const metrics: AccuracyMetrics = { maxAbsError: this.maxAbsError, cosine: this.cosine(), samples };
    if (this.rows > 0) metrics.top1Agreement = this.agreeingRows / this.rows;
    return metrics;
  }

  private cosine(): number {
    if (this.originalNorm === 0 && this.variantNorm === 0) return 1;
    if (this.originalNorm === 0 || this.variantNorm === 0) return 0;
    return Math.max(-1, Math.min(1, this.dot / Math.sqrt(this.originalNorm * this.variantNorm)));
  }
}

/** Output values as numbers; undefined for strings and other non-numeric outputs. */
function numericValues(tensor: OutputTensor): ArrayLike<number> | undefined {
  const { data, type } = tensor;
  if (type === 'float16' && data instanceof Uint16Array) return fromFloat16Bits(data);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return data as unknown as ArrayLike<number>;
  return undefined;
}

function argMax(values: ArrayLike<number>, start: number, length: number): number {
  let best = 0;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < length; i++) {
    const v = values[start + i] as number;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function sameStrings(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
}
