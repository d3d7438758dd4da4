import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType } from 'onnx-buf';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { floatTensor, graph, model, node, tensorValueInfo } from '../testing/graph-parts.js';
import { buildMlp, buildModelWithIfSubgraph, seededBytes } from '../testing/index.js';
import { evaluateAccuracy } from './evaluate-accuracy.js';

/** ids int64 ['N', 3] → Gather from a [10, 4] table → output ['N', 3, 4]. */
function embeddingModel(scale = 1): Uint8Array {
  const table = Float32Array.from({ length: 40 }, (_, i) => i * scale);
  const g = graph({
    name: 'embedding',
    nodes: [node('Gather', ['table', 'ids'], ['output'])],
    initializers: [floatTensor('table', [10, 4], table)],
    inputs: [tensorValueInfo('ids', ['N', 3], TensorProto_DataType.INT64)],
    outputs: [tensorValueInfo('output', ['N', 3, 4])],
  });
  return toBinary(ModelProtoSchema, model(g, 13));
}

describe('evaluateAccuracy', () => {
  it('finds a model identical to itself on synthesised inputs', async () => {
    const mlp = buildMlp({ inputSize: 16, hidden: [8], outputs: 4 });
    expect(await evaluateAccuracy(mlp, mlp)).toEqual({ maxAbsError: 0, cosine: 1, top1Agreement: 1, samples: 8 });
  });

  it('tells two different models apart', async () => {
    const a = buildMlp({ inputSize: 16, hidden: [8], outputs: 4, seed: 1 });
    const b = buildMlp({ inputSize: 16, hidden: [8], outputs: 4, seed: 2 });
    const metrics = await evaluateAccuracy(a, b, { samples: 4 });
    expect(metrics.samples).toBe(4);
    expect(metrics.cosine).toBeLessThan(0.9);
    expect(metrics.maxAbsError).toBeGreaterThan(0.01);
  });

  it('runs on a given evaluation set, plain data or onnxruntime tensors', async () => {
    const mlp = buildMlp({ inputSize: 4, hidden: [3], outputs: 2 });
    const inputs = [
      { input: { type: 'float32' as const, data: new Float32Array(8).fill(0.5), dims: [2, 4] } },
      { input: new ort.Tensor('float32', new Float32Array(4).fill(1), [1, 4]) },
    ];
    expect(await evaluateAccuracy(mlp, mlp, { inputs })).toMatchObject({ cosine: 1, samples: 2 });
  });

  it('synthesises int64 and bool inputs', async () => {
    // Scaled tables give outputs that differ by exactly the scale.
    const metrics = await evaluateAccuracy(embeddingModel(1), embeddingModel(1.01), { samples: 2 });
    expect(metrics.maxAbsError).toBeCloseTo(0.39, 4);
    expect(metrics.cosine).toBeCloseTo(1, 6);
    const ifModel = buildModelWithIfSubgraph();
    expect((await evaluateAccuracy(ifModel, ifModel)).cosine).toBe(1);
  });

  it('rejects an evaluation set that does not fit the model', async () => {
    const mlp = buildMlp({ inputSize: 4, hidden: [3], outputs: 2 });
    const wrongName = [{ image: { type: 'float32' as const, data: new Float32Array(4), dims: [1, 4] } }];
    await expect(evaluateAccuracy(mlp, mlp, { inputs: wrongName })).rejects.toMatchObject({
      code: 'invalid_evaluation_set',
      message: expect.stringMatching(/lacks input and has unknown image/),
    });
    const wrongShape = [{ input: { type: 'float32' as const, data: new Float32Array(5), dims: [1, 5] } }];
    await expect(evaluateAccuracy(mlp, mlp, { inputs: wrongShape })).rejects.toMatchObject({ code: 'invalid_evaluation_set' });
    await expect(evaluateAccuracy(mlp, mlp, { inputs: [] })).rejects.toMatchObject({ code: 'invalid_evaluation_set' });
  });

  it('asks for an evaluation set when an input has no declared shape', async () => {
    const g = graph({
      name: 'shapeless',
      nodes: [node('Relu', ['x'], ['y'])],
      inputs: [tensorValueInfo('x', null)],
      outputs: [tensorValueInfo('y', null)],
    });
    const bytes = toBinary(ModelProtoSchema, model(g, 13));
    await expect(evaluateAccuracy(bytes, bytes)).rejects.toMatchObject({
      code: 'invalid_evaluation_set',
      message: expect.stringMatching(/"x".*no shape.*pass an evaluation set/),
    });
  });

  it('rejects bytes that are not a model', async () => {
    await expect(evaluateAccuracy(seededBytes(3, 500), seededBytes(3, 500))).rejects.toMatchObject({ code: 'invalid_onnx' });
  });
});
