import type { AttributeProto, NodeProto } from 'onnx-buf';
import { isDefaultDomain } from '../model-graph/graph-scopes.js';
import type { TensorUse } from '../model-graph/weight-uses.js';

/**
 * Where a weight is quantized or pruned along: the axis of its output channels, or
 * `'tensor'` when one scale must serve the whole tensor.
 */
export type ChannelAxis = number | 'tensor';

/**
 * The output-channel axis of a tensor of rank `rank` read by `use`, or null when the use is
 * not a weight matrix or filter (biases, norm parameters, element-wise operands, unknown
 * operators): those stay untouched.
 */
export function weightSlotAxis(use: TensorUse, rank: number): ChannelAxis | null {
  if (use.kind !== 'node' || !isDefaultDomain(use.node.domain)) return null;
  const { node, inputIndex } = use;
  switch (node.opType) {
    case 'Conv':
      // [M, C/group, k…]: one filter per output channel.
      return inputIndex === 1 && rank >= 3 ? 0 : null;
    case 'ConvTranspose':
      // [C, M/group, k…]
      return inputIndex === 1 && rank >= 3 ? 1 : null;
    case 'Gemm':
      if (rank !== 2) return null;
      if (inputIndex === 1) return intAttribute(node, 'transB') ? 0 : 1;
      if (inputIndex === 0) return intAttribute(node, 'transA') ? 1 : 0;
      return null;
    case 'MatMul':
      if (inputIndex === 1) return rank >= 2 ? rank - 1 : 'tensor';
      if (inputIndex === 0) return rank === 2 ? 0 : null;
      return null;
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      // W and R are [directions, gates·hidden, inputs]: one row per gate unit.
      return (inputIndex === 1 || inputIndex === 2) && rank === 3 ? 1 : null;
    case 'Gather':
      // An embedding table: one row per token.
      return inputIndex === 0 && intAttribute(node, 'axis') === 0 && rank === 2 ? 0 : null;
    default:
      return null;
  }
}

/**
 * The axis a weight read by all of `uses` is quantized along; `'tensor'` when its readers
 * disagree, null when one of them is not a weight slot (or there are none).
 */
export function channelAxisOf(uses: readonly TensorUse[] | undefined, rank: number): ChannelAxis | null {
  if (uses === undefined || uses.length === 0) return null;
  let axis: ChannelAxis | undefined;
  for (const use of uses) {
    const slot = weightSlotAxis(use, rank);
    if (slot === null) return null;
    axis = axis === undefined || axis === slot ? slot : 'tensor';
  }
  return axis ?? null;
}

function intAttribute(node: NodeProto, name: string): number {
  const attribute: AttributeProto | undefined = node.attribute.find((a) => a.name === name);
  return attribute === undefined ? 0 : Number(attribute.i);
}
