import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema, TensorProto_DataType, TensorProtoSchema, type NodeProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { makeNode } from '../model-graph/graph-scopes.js';
import { ModelIndex } from '../model-graph/model-index.js';
import { tensorUses, type TensorUse } from '../model-graph/weight-uses.js';
import { attribute, floatTensor, graph, model, node, tensorValueInfo } from '../testing/graph-parts.js';
import { channelAxisOf, weightSlotAxis } from './weight-slots.js';

const use = (opType: string, inputIndex: number, ints: Record<string, number> = {}): TensorUse => {
  const node = makeNode(opType, ['a', 'b', 'c', 'd'], ['y'], opType, { int: ints });
  return { kind: 'node', node, inputIndex };
};

describe('weight slots', () => {
  it.each([
    ['Conv weight', use('Conv', 1), 4, 0],
    ['ConvTranspose weight', use('ConvTranspose', 1), 4, 1],
    ['Gemm B', use('Gemm', 1), 2, 1],
    ['Gemm B with transB', use('Gemm', 1, { transB: 1 }), 2, 0],
    ['MatMul B', use('MatMul', 1), 2, 1],
    ['batched MatMul B', use('MatMul', 1), 3, 2],
    ['LSTM W', use('LSTM', 1), 3, 1],
    ['GRU R', use('GRU', 2), 3, 1],
    ['Gather table', use('Gather', 0), 2, 0],
  ] as const)('quantizes a %s along its output channels', (_, u, rank, axis) => {
    expect(weightSlotAxis(u, rank)).toBe(axis);
  });

  it.each([
    ['Conv bias', use('Conv', 2), 1],
    ['Gemm C', use('Gemm', 2), 1],
    ['Add operand', use('Add', 1), 2],
    ['BatchNormalization scale', use('BatchNormalization', 1), 1],
    ['LayerNormalization scale', use('LayerNormalization', 1), 1],
    ['LSTM bias', use('LSTM', 3), 2],
  ] as const)('leaves a %s alone', (_, u, rank) => {
    expect(weightSlotAxis(u, rank)).toBeNull();
  });

  it('leaves weights of custom-domain operators alone', () => {
    const u = use('MatMul', 1);
    if (u.kind === 'node') u.node.domain = 'com.example';
    expect(weightSlotAxis(u, 2)).toBeNull();
  });

  it('falls back to one scale per tensor when readers disagree on the axis, and to none when one is not a weight slot', () => {
    expect(channelAxisOf([use('Gemm', 1, { transB: 1 }), use('MatMul', 1)], 2)).toBe('tensor');
    expect(channelAxisOf([use('Gemm', 1, { transB: 1 }), use('Gather', 0)], 2)).toBe(0);
    expect(channelAxisOf([use('MatMul', 1), use('Add', 1)], 2)).toBeNull();
    expect(channelAxisOf([{ kind: 'output' }], 2)).toBeNull();
    expect(channelAxisOf([], 2)).toBeNull();
  });

  it('reads Gather with a non-zero axis as no weight slot', () => {
    const u = use('Gather', 0);
    if (u.kind === 'node') u.node.attribute = [create(AttributeProtoSchema, { name: 'axis', type: AttributeProto_AttributeType.INT, i: 1n })];
    expect(weightSlotAxis(u, 2)).toBeNull();
  });
});

describe('weight slots through layout operators', () => {
  /** An int64 `Constant` node, as exporters write Slice bounds and Unsqueeze axes from opset 13 on. */
  const ints = (name: string, values: number[]): NodeProto =>
    node('Constant', [], [name], [
      create(AttributeProtoSchema, {
        name: 'value',
        type: AttributeProto_AttributeType.TENSOR,
        t: create(TensorProtoSchema, { dims: [BigInt(values.length)], dataType: TensorProto_DataType.INT64, int64Data: values.map(BigInt) }),
      }),
    ]);

  /** The channel axis of `W` (of shape `dims`) in a graph of `nodes` whose output is `out`, followed through layout operators. */
  function axisOfW(dims: number[], nodes: NodeProto[]): ReturnType<typeof channelAxisOf> {
    const g = graph({
      name: 'g',
      nodes,
      initializers: [floatTensor('W', dims, new Float32Array(dims.reduce((a, b) => a * b, 1)))],
      inputs: [tensorValueInfo('x', null)],
      outputs: [tensorValueInfo('out', null)],
    });
    const m = model(g, 13);
    return channelAxisOf(tensorUses(g).get('W'), dims.length, new ModelIndex(m));
  }

  it('follows an exporter\'s gate reordering, Slice → Concat → Unsqueeze → LSTM W, back to the weight\'s rows', () => {
    // W is [4·hidden, inputs]; the LSTM reads [1, 4·hidden, inputs] and quantizes along axis 1.
    const nodes = [
      ints('s0', [0]), ints('e0', [8]), ints('s1', [8]), ints('e1', [16]), ints('zero', [0]),
      node('Slice', ['W', 's0', 'e0', 'zero'], ['a']),
      node('Slice', ['W', 's1', 'e1', 'zero'], ['b']),
      node('Concat', ['b', 'a'], ['reordered'], [attribute.int('axis', 0)]),
      node('Unsqueeze', ['reordered', 'zero'], ['W3']),
      node('LSTM', ['x', 'W3', 'W3'], ['out'], [attribute.int('hidden_size', 4)]),
    ];
    expect(axisOfW([16, 4], nodes)).toBe(0);
    // Without the index, the Slice reader is no weight slot, as before.
    expect(channelAxisOf([{ kind: 'node', node: nodes[5]!, inputIndex: 0 }], 2)).toBeNull();
  });

  it('maps the axis through a Transpose, and through Unsqueeze / Squeeze axes given as attributes (before opset 13)', () => {
    // MatMul B [K, N] quantizes along N (axis 1), which is the weight's axis 0 before the Transpose.
    expect(axisOfW([6, 5], [node('Transpose', ['W'], ['t'], [attribute.ints('perm', [1, 0])]), node('MatMul', ['x', 't'], ['out'])])).toBe(0);
    expect(
      axisOfW([6, 5], [
        node('Unsqueeze', ['W'], ['u'], [attribute.ints('axes', [0])]),
        node('Squeeze', ['u'], ['s'], [attribute.ints('axes', [0])]),
        node('MatMul', ['x', 's'], ['out']),
      ]),
    ).toBe(1);
  });

  it('quantizes per tensor after a Reshape, whose axes cannot be mapped', () => {
    expect(axisOfW([4, 9], [ints('shape', [4, 1, 3, 3]), node('Reshape', ['W', 'shape'], ['r']), node('Conv', ['x', 'r'], ['out'])])).toBe('tensor');
  });

  it('leaves the weight alone when a layout path ends anywhere but in a weight slot, or its axes are unknown', () => {
    // Into an element-wise operand.
    expect(axisOfW([4, 4], [node('Identity', ['W'], ['i']), node('Add', ['x', 'i'], ['out'])])).toBeNull();
    // Straight to a graph output.
    expect(axisOfW([4, 4], [node('Transpose', ['W'], ['out'])])).toBeNull();
    // One path to a weight slot, another to an Add.
    expect(axisOfW([4, 4], [node('Identity', ['W'], ['i']), node('MatMul', ['x', 'i'], ['m']), node('Add', ['m', 'i'], ['out'])])).toBeNull();
    // Squeeze without axes: which axes go depends on the shape.
    expect(axisOfW([1, 4, 4], [node('Squeeze', ['W'], ['s']), node('MatMul', ['x', 's'], ['out'])])).toBeNull();
    // The weight as a Slice bound, not as its data.
    expect(axisOfW([4], [ints('z', [0]), node('Slice', ['x', 'z', 'W'], ['out'])])).toBeNull();
  });
});
