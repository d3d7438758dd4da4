/** Names and storage sizes of ONNX `TensorProto.DataType` values. */

interface ElementType {
  readonly name: string;
  /** Bits per element; 0 for strings, whose size is their encoded length. */
  readonly bits: number;
}

// Indexed by TensorProto.DataType.
const ELEMENT_TYPES: readonly (ElementType | undefined)[] = [
  undefined,
  { name: 'float32', bits: 32 },
  { name: 'uint8', bits: 8 },
  { name: 'int8', bits: 8 },
  { name: 'uint16', bits: 16 },
  { name: 'int16', bits: 16 },
  { name: 'int32', bits: 32 },
  { name: 'int64', bits: 64 },
  { name: 'string', bits: 0 },
  { name: 'bool', bits: 8 },
  { name: 'float16', bits: 16 },
  { name: 'double', bits: 64 },
  { name: 'uint32', bits: 32 },
  { name: 'uint64', bits: 64 },
  { name: 'complex64', bits: 64 },
  { name: 'complex128', bits: 128 },
  { name: 'bfloat16', bits: 16 },
  { name: 'float8e4m3fn', bits: 8 },
  { name: 'float8e4m3fnuz', bits: 8 },
  { name: 'float8e5m2', bits: 8 },
  { name: 'float8e5m2fnuz', bits: 8 },
  { name: 'uint4', bits: 4 },
  { name: 'int4', bits: 4 },
  { name: 'float4e2m1', bits: 4 },
  { name: 'float8e8m0', bits: 8 },
  { name: 'uint2', bits: 2 },
  { name: 'int2', bits: 2 },
];

/** The element type name (`float32`, `int64`, …) of a data type, or `unknown`. */
export function elementTypeName(dataType: number): string {
  return ELEMENT_TYPES[dataType]?.name ?? 'unknown';
}

/** Bits per element of a data type; undefined for strings and unknown types. */
export function elementBits(dataType: number): number | undefined {
  const bits = ELEMENT_TYPES[dataType]?.bits;
  return bits === 0 ? undefined : bits;
}
