import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { makeNode } from '../model-graph/graph-scopes.js';
import type { TensorUse } from '../model-graph/weight-uses.js';
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
