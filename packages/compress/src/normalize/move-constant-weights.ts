import { TensorProto_DataType, type GraphProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { isFloatConstant } from '../model-graph/graph-scopes.js';
import { rawTensor } from '../model-graph/tensor-values.js';

/**
 * Turns the floating-point `Constant` nodes of one graph (not its subgraphs) into initializers
 * of that graph under the same names, so weight passes find every weight in one place.
 * Constants that are themselves graph outputs stay. Returns how many were moved.
 */
export function moveConstantWeights(graph: GraphProto): number {
  const outputs = new Set(graph.output.map((o) => o.name));
  const moved: TensorProto[] = [];
  graph.node = graph.node.filter((node) => {
    const name = node.output[0];
    if (!isFloatConstant(node) || node.output.length !== 1 || name === undefined || outputs.has(name)) return true;
    const tensor = constantTensor(node.attribute, name);
    if (tensor === undefined) return true;
    moved.push(tensor);
    return false;
  });
  graph.initializer.push(...moved);
  return moved.length;
}

function constantTensor(attributes: NodeProto['attribute'], name: string): TensorProto | undefined {
  const attribute = attributes[0];
  if (attributes.length !== 1 || attribute === undefined) return undefined;
  switch (attribute.name) {
    case 'value':
      // The node goes away, so its tensor can be reused as it is.
      if (attribute.t) attribute.t.name = name;
      return attribute.t;
    case 'value_float':
      return rawTensor(name, [], TensorProto_DataType.FLOAT, Float32Array.of(attribute.f));
    case 'value_floats':
      return rawTensor(name, [BigInt(attribute.floats.length)], TensorProto_DataType.FLOAT, Float32Array.from(attribute.floats));
    default:
      return undefined;
  }
}
