import type { TensorShapeProto, TypeProto, ValueInfoProto } from 'onnx-buf';
import { elementTypeName } from './element-type.js';
import type { TensorInfo } from './onnx-file-inspection.js';

/** The name, element type and shape of a graph input or output. */
export function tensorInfoOf(valueInfo: ValueInfoProto): TensorInfo {
  const value = valueInfo.type?.value;
  const shape = value?.case === 'tensorType' || value?.case === 'sparseTensorType' ? shapeOf(value.value.shape) : null;
  return { name: valueInfo.name, type: typeName(valueInfo.type), shape };
}

function typeName(type: TypeProto | undefined): string {
  const value = type?.value;
  switch (value?.case) {
    case 'tensorType':
      return elementTypeName(value.value.elemType);
    case 'sparseTensorType':
      return `sparse(${elementTypeName(value.value.elemType)})`;
    case 'sequenceType':
      return `sequence(${typeName(value.value.elemType)})`;
    case 'optionalType':
      return `optional(${typeName(value.value.elemType)})`;
    case 'mapType':
      return `map(${elementTypeName(value.value.keyType)},${typeName(value.value.valueType)})`;
    default:
      return 'unknown';
  }
}

function shapeOf(shape: TensorShapeProto | undefined): TensorInfo['shape'] {
  if (shape === undefined) return null;
  return shape.dim.map((dim) => {
    switch (dim.value.case) {
      case 'dimValue':
        // Some exporters write -1 for "unknown".
        return dim.value.value >= 0n ? Number(dim.value.value) : null;
      case 'dimParam':
        return dim.value.value === '' ? null : dim.value.value;
      default:
        return null;
    }
  });
}
