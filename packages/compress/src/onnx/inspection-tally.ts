import { OnnxFormatError } from './onnx-format-error.js';
import { elementBits } from './element-type.js';
import type { SparseTensorMetadata, TensorMetadata } from './tensor-metadata.js';

/** Weights found in one place: how many, how many bytes, and whether any live outside the model. */
export interface ParameterFootprint {
  count: number;
  bytes: number;
  external: boolean;
}

const DEFAULT_DOMAINS = new Set(['', 'ai.onnx']);

/**
 * Most bytes of metadata (names, operator types, input and output descriptions) an inspection
 * keeps; beyond it the model is refused rather than letting hostile input grow memory.
 */
const RETAINED_BYTES_LIMIT = 64 * 1024 * 1024;

/** Running totals of an inspection: operators per type and the weights seen so far. */
export class InspectionTally {
  parameterCount = 0;
  parameterBytes = 0;
  externalData = false;
  private readonly operators = new Map<string, number>();
  private retainedBytes = 0;

  addOperator(domain: string, opType: string): void {
    const key = DEFAULT_DOMAINS.has(domain) ? opType : `${domain}::${opType}`;
    const count = this.operators.get(key);
    if (count === undefined) this.retain(key.length);
    this.operators.set(key, (count ?? 0) + 1);
  }

  /** Accounts for `bytes` of metadata kept until the inspection ends. */
  retain(bytes: number): void {
    this.retainedBytes += bytes + 32;
    if (this.retainedBytes > RETAINED_BYTES_LIMIT) {
      throw new OnnxFormatError(`model metadata (names, operators, inputs) exceeds ${RETAINED_BYTES_LIMIT} bytes`);
    }
  }

  addParameters(footprint: ParameterFootprint): void {
    this.parameterCount += footprint.count;
    this.parameterBytes += footprint.bytes;
    if (footprint.external) this.externalData = true;
  }

  operatorCounts(): Record<string, number> {
    return Object.fromEntries(this.operators);
  }
}

/** True for the standard `Constant` operator, whose attribute holds a weight. */
export function isConstantOperator(domain: string, opType: string): boolean {
  return opType === 'Constant' && DEFAULT_DOMAINS.has(domain);
}

/** Elements and bytes of a dense tensor at its stored precision. */
export function tensorFootprint(meta: TensorMetadata): ParameterFootprint {
  const count = Number(meta.elements);
  const bits = elementBits(meta.dataType);
  // Strings (and unknown types) have no fixed width: count the bytes actually stored.
  const bytes = bits === undefined ? meta.storedBytes : Math.ceil((count * bits) / 8);
  return { count, bytes, external: meta.external };
}

/** A sparse tensor counts its stored values; its bytes include the indices. */
export function sparseTensorFootprint(meta: SparseTensorMetadata): ParameterFootprint {
  const values = meta.values ? tensorFootprint(meta.values) : { count: 0, bytes: 0, external: false };
  const indices = meta.indices ? tensorFootprint(meta.indices) : { count: 0, bytes: 0, external: false };
  return { count: values.count, bytes: values.bytes + indices.bytes, external: values.external || indices.external };
}

/**
 * The weight a `Constant` node's attribute holds, by the attribute names the operator defines;
 * `value_string(s)` and unknown attributes hold none.
 */
export function constantAttributeFootprint(
  name: string,
  value: { tensor?: TensorMetadata | undefined; sparse?: SparseTensorMetadata | undefined; floats: number; ints: number },
): ParameterFootprint {
  switch (name) {
    case 'value':
      return value.tensor ? tensorFootprint(value.tensor) : NONE;
    case 'sparse_value':
      return value.sparse ? sparseTensorFootprint(value.sparse) : NONE;
    case 'value_float':
      return { count: 1, bytes: 4, external: false };
    case 'value_floats':
      return { count: value.floats, bytes: value.floats * 4, external: false };
    case 'value_int':
      return { count: 1, bytes: 8, external: false };
    case 'value_ints':
      return { count: value.ints, bytes: value.ints * 8, external: false };
    default:
      return NONE;
  }
}

const NONE: ParameterFootprint = { count: 0, bytes: 0, external: false };
