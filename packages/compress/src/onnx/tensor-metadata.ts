import {
  SparseTensorProtoSchema,
  TensorProto_DataLocation,
  TensorProtoSchema,
  type SparseTensorProto,
  type TensorProto,
} from 'onnx-buf';
import { WireType, type FileWireReader } from './file-wire-reader.js';
import { OnnxFormatError } from './onnx-format-error.js';
import { checkWireType } from './onnx-wire-schema.js';

/** What inspection needs to know about a tensor: everything but its values. */
export interface TensorMetadata {
  name: string;
  /** Product of the dimensions (1 for a scalar). */
  elements: bigint;
  dataType: number;
  /** The values live in an external file. */
  external: boolean;
  /** Bytes of `raw_data` and `string_data` stored in the model itself. */
  storedBytes: number;
}

/** Metadata of a sparse tensor's stored values and their indices. */
export interface SparseTensorMetadata {
  values: TensorMetadata | undefined;
  indices: TensorMetadata | undefined;
}

/** Longest tensor name accepted. */
const NAME_LIMIT = 1024 * 1024;
const ELEMENT_LIMIT = 2n ** 64n;

const T = TensorProtoSchema.field;
const S = SparseTensorProtoSchema.field;

/**
 * Reads a TensorProto's metadata from the wire up to `end`, seeking over its payload
 * (`raw_data`, `float_data`, …) without reading it.
 */
export async function scanTensor(reader: FileWireReader, end: number): Promise<TensorMetadata> {
  const start = reader.position;
  const meta: TensorMetadata = { name: '', elements: 1n, dataType: 0, external: false, storedBytes: 0 };
  while (reader.position < end) {
    const tag = await reader.readTag();
    checkWireType(TensorProtoSchema, tag, 'corrupt tensor');
    switch (tag.field) {
      case T.dims.number:
        if (tag.wireType === WireType.varint) {
          meta.elements = multiplyDimension(meta.elements, await reader.readVarint64(), start);
        } else {
          const packedEnd = await reader.readPayloadEnd(end, 'tensor dims', tag.at);
          while (reader.position < packedEnd) {
            meta.elements = multiplyDimension(meta.elements, await reader.readVarint64(), start);
          }
          reader.checkWithin(packedEnd, tag);
        }
        break;
      case T.dataType.number:
        meta.dataType = await reader.readVarint();
        break;
      case T.name.number:
        meta.name = await reader.readString(end, 'tensor name', tag.at, NAME_LIMIT);
        break;
      case T.dataLocation.number:
        if ((await reader.readVarint()) === TensorProto_DataLocation.EXTERNAL) meta.external = true;
        break;
      case T.externalData.number:
        meta.external = true;
        await reader.skipField(tag, end);
        break;
      case T.rawData.number:
      case T.stringData.number: {
        const length = await reader.readLength(end, 'tensor data', tag.at);
        meta.storedBytes += length;
        reader.skip(length);
        break;
      }
      default:
        await reader.skipField(tag, end);
    }
    reader.checkWithin(end, tag);
  }
  return meta;
}

/** Reads a SparseTensorProto's metadata from the wire up to `end`, skipping its payload. */
export async function scanSparseTensor(reader: FileWireReader, end: number): Promise<SparseTensorMetadata> {
  const meta: SparseTensorMetadata = { values: undefined, indices: undefined };
  while (reader.position < end) {
    const tag = await reader.readTag();
    checkWireType(SparseTensorProtoSchema, tag, 'corrupt sparse tensor');
    if (tag.field === S.values.number || tag.field === S.indices.number) {
      const tensorEnd = await reader.readPayloadEnd(end, 'sparse tensor part', tag.at);
      const part = await scanTensor(reader, tensorEnd);
      if (tag.field === S.values.number) meta.values = part;
      else meta.indices = part;
    } else {
      await reader.skipField(tag, end);
    }
    reader.checkWithin(end, tag);
  }
  return meta;
}

/** The metadata of an already decoded tensor. */
export function tensorMetadataOf(tensor: TensorProto): TensorMetadata {
  let elements = 1n;
  for (const dim of tensor.dims) elements = multiplyDimension(elements, dim, undefined);
  let storedBytes = tensor.rawData.length;
  for (const s of tensor.stringData) storedBytes += s.length;
  return {
    name: tensor.name,
    elements,
    dataType: tensor.dataType,
    external: tensor.dataLocation === TensorProto_DataLocation.EXTERNAL || tensor.externalData.length > 0,
    storedBytes,
  };
}

/** The metadata of an already decoded sparse tensor. */
export function sparseTensorMetadataOf(sparse: SparseTensorProto): SparseTensorMetadata {
  return {
    values: sparse.values && tensorMetadataOf(sparse.values),
    indices: sparse.indices && tensorMetadataOf(sparse.indices),
  };
}

function multiplyDimension(elements: bigint, dim: bigint, tensorAt: number | undefined): bigint {
  const where = tensorAt === undefined ? '' : ` at byte ${tensorAt}`;
  if (dim < 0n) throw new OnnxFormatError(`corrupt tensor${where}: negative dimension ${dim}`);
  const product = elements * dim;
  if (product >= ELEMENT_LIMIT) throw new OnnxFormatError(`corrupt tensor${where}: more than 2^64 elements`);
  return product;
}
