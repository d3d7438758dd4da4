import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { CompressionError } from '../compression-error.js';
import { normalizeModel } from '../normalize/normalize-model.js';
import { readModel, writeModel } from '../onnx/model-codec.js';
import { graph, model, node, tensorValueInfo } from '../testing/graph-parts.js';
import { buildMlp, buildModelWithExternalData, buildModelWithForeignSubgraph, seededBytes } from '../testing/index.js';
import { buildVariant } from './build-variant.js';
import type { VariantKind } from './variant-kind.js';

const mlp = buildMlp({ inputSize: 16, hidden: [8], outputs: 4 });

async function failure(bytes: Uint8Array, kind: VariantKind = 'int8'): Promise<CompressionError> {
  const error: unknown = await buildVariant(bytes, kind).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CompressionError);
  return error as CompressionError;
}

describe('buildVariant on input it cannot use', () => {
  it.each([
    ['empty bytes', new Uint8Array(0)],
    ['random bytes', seededBytes(9, 4096)],
    ['a truncated model', mlp.subarray(0, Math.floor(mlp.length / 2))],
    ['a model cut one byte short', mlp.subarray(0, mlp.length - 1)],
    ['a protobuf that is a tensor, not a model', toBinary(TensorProtoSchema, create(TensorProtoSchema, { dims: [2n], floatData: [1, 2] }))],
  ])('%s: invalid_onnx', async (_, bytes) => {
    const error = await failure(bytes);
    expect(error.code).toBe('invalid_onnx');
    expect(error.message).toMatch(/ONNX model|corrupt|premature|invalid/i);
  });

  it('a model whose weights live in external data files: external_data', async () => {
    const error = await failure(buildModelWithExternalData());
    expect(error.code).toBe('external_data');
    expect(error.message).toBe('tensor "W" keeps its data in an external file; upload a self-contained .onnx (weights embedded)');
  });

  const kinds = ['fp16', 'int8', 'pruned-50'] as const;
  it.each(kinds)('weights in a subgraph of an operator Ferry cannot rewrite (%s): unsupported_model', async (kind) => {
    const error = await failure(buildModelWithForeignSubgraph(), kind);
    expect(error.code).toBe('unsupported_model');
    expect(error.message).toMatch(/^operator com\.example::Repeat in main carries a subgraph .* that holds weights; /);
    expect(error.message).toMatch(/Ferry rewrites weights only in the main graph and in If, Loop and Scan subgraphs$/);
  });

  it('an opset older than 7: unsupported_model', async () => {
    const old = readModel(mlp);
    old.opsetImport[0]!.version = 6n;
    const error = await failure(writeModel(old));
    expect(error).toMatchObject({ code: 'unsupported_model', message: 'opset 6 is older than 7, the oldest Ferry rewrites' });
  });

  it('a model onnxruntime cannot load: unsupported_model', async () => {
    const g = graph({
      name: 'unknown_op',
      nodes: [node('Frobnicate', ['input'], ['output'])],
      inputs: [tensorValueInfo('input', ['N', 4])],
      outputs: [tensorValueInfo('output', ['N', 4])],
    });
    const error = await failure(toBinary(ModelProtoSchema, model(g, 13)), 'fp16');
    expect(error.code).toBe('unsupported_model');
    expect(error.message).toMatch(/^onnxruntime cannot load the model: .*Frobnicate/);
  });

  it('a string input without an evaluation set: invalid_evaluation_set', async () => {
    const g = graph({
      name: 'strings',
      nodes: [node('Identity', ['input'], ['output'])],
      inputs: [tensorValueInfo('input', [1], TensorProto_DataType.STRING)],
      outputs: [tensorValueInfo('output', [1], TensorProto_DataType.STRING)],
    });
    const error = await failure(toBinary(ModelProtoSchema, model(g, 13)), 'fp16');
    expect(error).toMatchObject({
      code: 'invalid_evaluation_set',
      message: 'cannot synthesise input "input": its type is string; pass an evaluation set',
    });
  });

  it('an unknown variant kind: invalid_variant_kind', async () => {
    const error = await failure(mlp, 'int4' as VariantKind);
    expect(error.code).toBe('invalid_variant_kind');
  });

  it('normalizeModel refuses the same inputs with the same codes', () => {
    expect(() => normalizeModel(seededBytes(9, 4096))).toThrow(expect.objectContaining({ code: 'invalid_onnx' }));
    expect(() => normalizeModel(buildModelWithExternalData())).toThrow(expect.objectContaining({ code: 'external_data' }));
    expect(() => normalizeModel(buildModelWithForeignSubgraph())).toThrow(expect.objectContaining({ code: 'unsupported_model' }));
  });
});
