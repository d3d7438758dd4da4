import { TensorProto_DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { allGraphs, isDefaultDomain } from './graph-scopes.js';
import { elementCount } from './tensor-values.js';
import { tensorUses, type TensorUse } from './weight-uses.js';

/** Integer constants longer than this are not shape arguments; they are not indexed. */
const MAX_INT_CONSTANT = 64;

/**
 * Lookups across every graph of a model that following a tensor from node to node needs: who
 * reads a node's output (in the node's graph and its subgraphs), and the values of the small
 * integer constants that operators such as `Unsqueeze`, `Squeeze` and `Reshape` take as inputs.
 * ONNX names are unique across a model and its subgraphs, so names are looked up model-wide.
 */
export class ModelIndex {
  private readonly graphOf = new Map<NodeProto, GraphProto>();
  private readonly usesIn = new Map<GraphProto, Map<string, TensorUse[]>>();
  private readonly ints = new Map<string, number[]>();

  constructor(model: ModelProto) {
    for (const graph of allGraphs(model)) {
      for (const tensor of graph.initializer) this.addInts(tensor.name, tensor);
      for (const node of graph.node) {
        this.graphOf.set(node, graph);
        const name = node.output[0];
        if (!isDefaultDomain(node.domain) || node.opType !== 'Constant' || name === undefined) continue;
        for (const a of node.attribute) {
          if (a.name === 'value' && a.t) this.addInts(name, a.t);
          else if (a.name === 'value_ints') this.ints.set(name, a.ints.map(Number));
          else if (a.name === 'value_int') this.ints.set(name, [Number(a.i)]);
        }
      }
    }
  }

  /** How `name`, an output of `node`, is read: in the node's graph and in the subgraphs of that graph. */
  readersOf(node: NodeProto, name: string): TensorUse[] {
    const graph = this.graphOf.get(node);
    if (graph === undefined) return [];
    let uses = this.usesIn.get(graph);
    if (uses === undefined) {
      uses = tensorUses(graph);
      this.usesIn.set(graph, uses);
    }
    return uses.get(name) ?? [];
  }

  /** The values of a small int32 / int64 constant (initializer or `Constant` node), flattened; undefined when unknown. */
  intValues(name: string): number[] | undefined {
    return this.ints.get(name);
  }

  private addInts(name: string, tensor: TensorProto): void {
    if (elementCount(tensor) > MAX_INT_CONSTANT) return;
    const values = readInts(tensor);
    if (values !== undefined) this.ints.set(name, values);
  }
}

/** The values of an int32 or int64 tensor, from raw (little-endian) or typed data; undefined for other types. */
function readInts(tensor: TensorProto): number[] | undefined {
  const raw = tensor.rawData;
  switch (tensor.dataType) {
    case TensorProto_DataType.INT64:
      if (raw.length > 0) {
        const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        return Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
      }
      return tensor.int64Data.map(Number);
    case TensorProto_DataType.INT32:
      if (raw.length > 0) {
        const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        return Array.from({ length: raw.length / 4 }, (_, i) => view.getInt32(i * 4, true));
      }
      return [...tensor.int32Data];
    default:
      return undefined;
  }
}
