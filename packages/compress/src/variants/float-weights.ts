import { TensorProto_DataType, type TensorProto } from 'onnx-buf';
import type { ModelProto } from 'onnx-buf';
import { rewritableGraphs, type GraphScope } from '../model-graph/graph-scopes.js';
import { ModelIndex } from '../model-graph/model-index.js';
import { elementCount } from '../model-graph/tensor-values.js';
import { tensorUses, type TensorUse } from '../model-graph/weight-uses.js';
import { channelAxisOf, type ChannelAxis } from './weight-slots.js';

/** A float32 initializer of a rewritable graph, with how it is read. */
export interface FloatWeight {
  scope: GraphScope;
  tensor: TensorProto;
  dims: number[];
  elements: number;
  uses: TensorUse[];
  /**
   * The axis of its output channels when it is a weight matrix or filter, read directly or
   * through layout operators (see {@link channelAxisOf}); null for biases, norm parameters and
   * other operands.
   */
  channelAxis: ChannelAxis | null;
}

/**
 * The float32 initializers of the main graph and its `If` / `Loop` / `Scan` subgraphs that some
 * node or graph output reads, graph by graph, in stored order.
 */
export function floatWeights(model: ModelProto): FloatWeight[] {
  const weights: FloatWeight[] = [];
  const index = new ModelIndex(model);
  for (const scope of rewritableGraphs(model)) {
    const uses = tensorUses(scope.graph);
    for (const tensor of scope.graph.initializer) {
      const read = uses.get(tensor.name);
      if (tensor.dataType !== TensorProto_DataType.FLOAT || read === undefined) continue;
      const dims = tensor.dims.map(Number);
      weights.push({ scope, tensor, dims, elements: elementCount(tensor), uses: read, channelAxis: channelAxisOf(read, dims.length, index) });
    }
  }
  return weights;
}
