import type { AttributeProto, NodeProto } from 'onnx-buf';
import { isDefaultDomain } from '../model-graph/graph-scopes.js';
import type { ModelIndex } from '../model-graph/model-index.js';
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
 *
 * With a model `index`, a weight read through operators that only select, reorder or reshape
 * its elements ({@link LAYOUT_OPERATORS}) before it reaches a weight slot still counts, as in
 * exporters that slice an LSTM's gates into ONNX order (`Slice` → `Concat` → `Unsqueeze` →
 * `LSTM`). The slot's channel axis is mapped back to the weight's own axis where each step's
 * axes are known, and is `'tensor'` where they are not (after a `Reshape`, say). Any axis is
 * correct, since the decoded weight is the whole tensor; the mapped one is the most accurate.
 */
export function channelAxisOf(uses: readonly TensorUse[] | undefined, rank: number, index?: ModelIndex): ChannelAxis | null {
  const identity = Array.from({ length: rank }, (_, axis) => axis);
  return axisAcross(uses, identity, index, 0);
}

/**
 * Operators whose output holds (some of) the elements of their data input, moved but not
 * computed on; a weight read through them is still a weight.
 */
export const LAYOUT_OPERATORS: ReadonlySet<string> = new Set(['Identity', 'Slice', 'Concat', 'Split', 'Transpose', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten']);

/** Layout operators followed in a row, at most: exporters use two or three. */
const MAX_LAYOUT_DEPTH = 8;

/**
 * For each axis of a tensor, the weight axis it runs along (null for an axis of its own, such as
 * one `Unsqueeze` inserted or one a `Reshape` made).
 */
type AxisOrigin = readonly (number | null)[];

function axisAcross(uses: readonly TensorUse[] | undefined, origin: AxisOrigin, index: ModelIndex | undefined, depth: number): ChannelAxis | null {
  if (uses === undefined || uses.length === 0) return null;
  let axis: ChannelAxis | undefined;
  for (const use of uses) {
    const slot = axisOfUse(use, origin, index, depth);
    if (slot === null) return null;
    axis = axis === undefined || axis === slot ? slot : 'tensor';
  }
  return axis ?? null;
}

function axisOfUse(use: TensorUse, origin: AxisOrigin, index: ModelIndex | undefined, depth: number): ChannelAxis | null {
  const slot = weightSlotAxis(use, origin.length);
  if (slot !== null) return slot === 'tensor' ? 'tensor' : (origin[slot] ?? 'tensor');
  if (index === undefined || use.kind !== 'node' || depth >= MAX_LAYOUT_DEPTH) return null;
  const next = layoutOrigin(use.node, use.inputIndex, origin, index);
  if (next === null) return null;
  const readers = use.node.output.filter((name) => name !== '').flatMap((name) => index.readersOf(use.node, name));
  return axisAcross(readers, next, index, depth + 1);
}

/**
 * The axis origin of a layout operator's output, given its data input's; null when `node` is
 * not a layout operator reading the tensor as data, or its axes cannot be known.
 */
function layoutOrigin(node: NodeProto, inputIndex: number, origin: AxisOrigin, index: ModelIndex): AxisOrigin | null {
  if (!isDefaultDomain(node.domain) || !LAYOUT_OPERATORS.has(node.opType)) return null;
  if (node.opType === 'Concat') return origin;
  if (inputIndex !== 0) return null;
  const rank = origin.length;
  switch (node.opType) {
    case 'Identity':
    case 'Slice':
    case 'Split':
      return origin;
    case 'Transpose': {
      const perm = intsAttribute(node, 'perm') ?? origin.map((_, i) => rank - 1 - i);
      if (perm.length !== rank) return null;
      return perm.map((p) => origin[p] ?? null);
    }
    case 'Unsqueeze': {
      const axes = axesOf(node, index);
      if (axes === undefined) return null;
      const outRank = rank + axes.length;
      const inserted = new Set(axes.map((a) => (a < 0 ? a + outRank : a)));
      const result: (number | null)[] = [];
      let next = 0;
      for (let i = 0; i < outRank; i++) result.push(inserted.has(i) ? null : (origin[next++] ?? null));
      return next === rank ? result : null;
    }
    case 'Squeeze': {
      // Without axes, every axis of size 1 goes: which ones is not known here.
      const axes = axesOf(node, index);
      if (axes === undefined) return null;
      const removed = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
      return origin.filter((_, i) => !removed.has(i));
    }
    case 'Reshape': {
      const shape = node.input[1] ? index.intValues(node.input[1]) : undefined;
      return shape === undefined ? null : shape.map(() => null);
    }
    case 'Flatten':
      return [null, null];
    default:
      return null;
  }
}

/** `axes` of an `Unsqueeze` / `Squeeze`: an attribute before opset 13, a constant input from 13 on. */
function axesOf(node: NodeProto, index: ModelIndex): number[] | undefined {
  const input = node.input[1];
  if (input) return index.intValues(input);
  return intsAttribute(node, 'axes');
}

function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const attribute = node.attribute.find((a) => a.name === name);
  return attribute === undefined ? undefined : attribute.ints.map(Number);
}

function intAttribute(node: NodeProto, name: string): number {
  const attribute: AttributeProto | undefined = node.attribute.find((a) => a.name === name);
  return attribute === undefined ? 0 : Number(attribute.i);
}
