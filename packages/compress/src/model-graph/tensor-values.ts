import { create } from '@bufbuild/protobuf';
import { TensorProto_DataLocation, TensorProto_DataType, TensorProtoSchema, type TensorProto } from 'onnx-buf';

/** Element count of a tensor (1 for a scalar). */
export function elementCount(tensor: TensorProto): number {
  let count = 1;
  for (const dim of tensor.dims) count *= Number(dim);
  return count;
}

/** True when the tensor keeps its values in a file next to the model. */
export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === TensorProto_DataLocation.EXTERNAL || tensor.externalData.length > 0;
}

/** True for the floating-point element types. */
export function isFloatType(dataType: number): boolean {
  return (
    dataType === TensorProto_DataType.FLOAT ||
    dataType === TensorProto_DataType.FLOAT16 ||
    dataType === TensorProto_DataType.DOUBLE ||
    dataType === TensorProto_DataType.BFLOAT16
  );
}

/**
 * The values of a float32 tensor, from `raw_data` or `float_data`, as a fresh array.
 * ONNX stores raw data little-endian, as every platform Ferry runs on is.
 */
export function readFloat32(tensor: TensorProto): Float32Array<ArrayBuffer> {
  if (tensor.rawData.length > 0) {
    // Decoded raw data is an unaligned view into the model bytes: copy before viewing.
    return new Float32Array(tensor.rawData.slice().buffer);
  }
  return Float32Array.from(tensor.floatData);
}

/** A tensor of `dataType` holding `data` as raw little-endian bytes. */
export function rawTensor(name: string, dims: readonly bigint[], dataType: TensorProto_DataType, data: ArrayBufferView<ArrayBuffer>): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: [...dims],
    dataType,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/** Replaces a float32 tensor's values in place, stored as raw data. */
export function writeFloat32(tensor: TensorProto, values: Float32Array<ArrayBuffer>): void {
  tensor.floatData = [];
  tensor.rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
