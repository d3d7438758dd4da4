import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType, TensorProtoSchema, type ModelProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { defaultOpset } from '../model-graph/graph-scopes.js';
import { normalizeModelProto } from '../normalize/normalize-model.js';
import { readModel, writeModel } from '../onnx/model-codec.js';
import { attribute, floatTensor, graph, model as wrapModel, node, randomWeights, tensorValueInfo } from '../testing/graph-parts.js';
import { buildMlp, buildModelWithLoopSubgraph, buildTinyCnn, runOnnx, seededRandom, type Feeds } from '../testing/index.js';
import { quantizeSymmetric, quantizeWeightsInt8 } from './int8-weights.js';

function quantized(bytes: Uint8Array, settings = { perChannel: true, minElements: 1024 }): ModelProto {
  const model = readModel(bytes);
  normalizeModelProto(model);
  quantizeWeightsInt8(model, defaultOpset(model)!, settings);
  return model;
}

const decoders = (model: ModelProto) =>
  model.graph!.node.filter((n) => ['DequantizeLinear', 'Cast', 'Mul'].includes(n.opType)).map((n) => {
    const axis = n.attribute.find((a) => a.name === 'axis');
    return axis ? `${n.opType}(axis ${axis.i})` : n.opType;
  });
const initializer = (model: ModelProto, name: string) => model.graph!.initializer.find((t) => t.name === name);

function floats(dims: number[], seed = 3): Feeds[string] {
  const random = seededRandom(seed);
  return { type: 'float32', data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, random), dims };
}

async function expectClose(original: Uint8Array, variant: ModelProto, feeds: Feeds, output: string, tolerance: number): Promise<void> {
  const expected = (await runOnnx(original, feeds))[output]!;
  const actual = (await runOnnx(writeModel(variant), feeds))[output]!;
  expect(actual.dims).toEqual(expected.dims);
  const a = expected.data as Float32Array;
  const b = actual.data as Float32Array;
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (b[i] as number)))));
  expect(worst).toBeLessThan(tolerance);
}

describe('int8 weight quantization', () => {
  it('uses per-channel DequantizeLinear from opset 13, along the Gemm output columns, and keeps small tensors float', async () => {
    const original = buildMlp({ opset: 13 });
    const model = quantized(original);
    expect(decoders(model)).toEqual(['DequantizeLinear(axis 1)']);
    expect(initializer(model, 'layer0.weight_quantized')?.dataType).toBe(TensorProto_DataType.INT8);
    expect(initializer(model, 'layer0.weight_scale')?.dims).toEqual([64n]);
    // 64×10 = 640 values: below the 1024 threshold. Biases are never quantized.
    expect(initializer(model, 'layer1.weight')?.dataType).toBe(TensorProto_DataType.FLOAT);
    expect(initializer(model, 'layer0.bias')?.dataType).toBe(TensorProto_DataType.FLOAT);
    await expectClose(original, model, { input: floats([4, 784]) }, 'logits', 0.01);
  });

  it.each([10, 11, 12])('uses Cast + Mul per channel at opset %i, where DequantizeLinear has no axis', async (opset) => {
    const original = buildMlp({ opset });
    const model = quantized(original);
    expect(decoders(model)).toEqual(['Cast', 'Mul']);
    expect(initializer(model, 'layer0.weight_scale')?.dims).toEqual([64n]);
    await expectClose(original, model, { input: floats([4, 784]) }, 'logits', 0.01);
  });

  it('uses per-tensor DequantizeLinear at opset 10 when per-channel is off', async () => {
    const original = buildMlp({ opset: 10 });
    const model = quantized(original, { perChannel: false, minElements: 1024 });
    expect(decoders(model)).toEqual(['DequantizeLinear']);
    expect(initializer(model, 'layer0.weight_scale')?.dims).toEqual([]);
    await expectClose(original, model, { input: floats([4, 784]) }, 'logits', 0.02);
  });

  it('uses Cast + Mul at opset 9, with Conv filters scaled per output channel', async () => {
    const original = buildTinyCnn({ opset: 9 });
    const model = quantized(original, { perChannel: true, minElements: 1 });
    expect(decoders(model)).toEqual(['Cast', 'Mul', 'Cast', 'Mul']);
    expect(initializer(model, 'conv.weight_scale')?.dims).toEqual([8n, 1n, 1n, 1n]);
    expect(initializer(model, 'fc.weight_scale')?.dims).toEqual([10n]);
    await expectClose(original, model, { input: floats([2, 1, 28, 28]) }, 'logits', 0.02);
  });

  it('quantizes Conv filters along axis 0 with DequantizeLinear at opset 13', async () => {
    const original = buildTinyCnn({ opset: 13 });
    const model = quantized(original, { perChannel: true, minElements: 1 });
    expect(decoders(model)).toEqual(['DequantizeLinear(axis 0)', 'DequantizeLinear(axis 1)']);
    await expectClose(original, model, { input: floats([2, 1, 28, 28]) }, 'logits', 0.02);
  });

  it('quantizes a weight inside a Loop body in the body itself', async () => {
    const original = buildModelWithLoopSubgraph();
    const model = quantized(original);
    const body = model.graph!.node.find((n) => n.opType === 'Loop')!.attribute[0]!.g!;
    expect(body.node[0]?.opType).toBe('DequantizeLinear');
    expect(body.initializer.map((t) => t.name)).toEqual(['body.W_quantized', 'body.W_scale']);
    expect(model.graph!.initializer.map((t) => t.name)).toEqual(['trips']);
    await expectClose(original, model, { input: floats([3, 32]) }, 'output', 0.02);
  });

  it('quantizes LSTM input and recurrent weights per gate row (axis 1), keeping the bias float', async () => {
    const hidden = 32;
    const inputs = 16;
    const random = seededRandom(4);
    const g = graph({
      name: 'lstm',
      nodes: [node('LSTM', ['input', 'W', 'R', 'B'], ['', 'output'], [attribute.int('hidden_size', hidden)])],
      initializers: [
        floatTensor('W', [1, 4 * hidden, inputs], randomWeights(random, 4 * hidden * inputs, hidden)),
        floatTensor('R', [1, 4 * hidden, hidden], randomWeights(random, 4 * hidden * hidden, hidden)),
        floatTensor('B', [1, 8 * hidden], randomWeights(random, 8 * hidden, hidden)),
      ],
      inputs: [tensorValueInfo('input', ['S', 'N', inputs])],
      outputs: [tensorValueInfo('output', [1, 'N', hidden])],
    });
    const original = toBinary(ModelProtoSchema, wrapModel(g, 13));
    const model = quantized(original);
    expect(decoders(model)).toEqual(['DequantizeLinear(axis 1)', 'DequantizeLinear(axis 1)']);
    expect(initializer(model, 'W_scale')?.dims).toEqual([128n]);
    expect(initializer(model, 'B')?.dataType).toBe(TensorProto_DataType.FLOAT);
    await expectClose(original, model, { input: floats([5, 2, inputs]) }, 'output', 0.02);
  });

  it('quantizes LSTM matrices an exporter slices into ONNX gate order (Slice → Concat → Unsqueeze), per gate row', async () => {
    // As Silero VAD v5 is exported: PyTorch-ordered (i, f, g, o) [4·hidden, inputs] matrices held
    // in Constant nodes, cut into gates and concatenated in ONNX order (i, o, f, g) before the
    // LSTM reads them. The LSTM never reads W or R directly; they are still its weights.
    const hidden = 32;
    const inputs = 16;
    const random = seededRandom(5);
    const int64 = (name: string, values: number[]) =>
      node('Constant', [], [name], [attribute.tensor('value', create(TensorProtoSchema, { dims: [BigInt(values.length)], dataType: TensorProto_DataType.INT64, int64Data: values.map(BigInt) }))]);
    const constant = (name: string, dims: number[], fanIn: number) =>
      node('Constant', [], [name], [attribute.tensor('value', floatTensor(name, dims, randomWeights(random, dims.reduce((a, b) => a * b, 1), fanIn)))]);
    const gate = (k: number) => [int64(`start${k}`, [k * hidden]), int64(`end${k}`, [(k + 1) * hidden])];
    const reorder = (name: string) => [
      ...[0, 3, 1, 2].map((k) => node('Slice', [name, `start${k}`, `end${k}`, 'axis0'], [`${name}.gate${k}`])),
      node('Concat', [0, 3, 1, 2].map((k) => `${name}.gate${k}`), [`${name}.onnx`], [attribute.int('axis', 0)]),
      node('Unsqueeze', [`${name}.onnx`, 'axis0'], [`${name}.3d`]),
    ];
    const g = graph({
      name: 'exported-lstm',
      nodes: [
        constant('W', [4 * hidden, inputs], hidden),
        constant('R', [4 * hidden, hidden], hidden),
        constant('B', [1, 8 * hidden], hidden),
        int64('axis0', [0]),
        ...[0, 1, 2, 3].flatMap(gate),
        ...reorder('W'),
        ...reorder('R'),
        node('LSTM', ['input', 'W.3d', 'R.3d', 'B'], ['', 'output'], [attribute.int('hidden_size', hidden)]),
      ],
      inputs: [tensorValueInfo('input', ['S', 'N', inputs])],
      outputs: [tensorValueInfo('output', [1, 'N', hidden])],
    });
    const original = toBinary(ModelProtoSchema, wrapModel(g, 13));
    const model = quantized(original);
    expect(decoders(model)).toEqual(['DequantizeLinear(axis 0)', 'DequantizeLinear(axis 0)']);
    expect(initializer(model, 'W_quantized')?.dataType).toBe(TensorProto_DataType.INT8);
    expect(initializer(model, 'R_scale')?.dims).toEqual([128n]);
    expect(initializer(model, 'B')?.dataType).toBe(TensorProto_DataType.FLOAT);
    await expectClose(original, model, { input: floats([5, 2, inputs]) }, 'output', 0.02);
  });

  it('quantizes symmetrically per channel: zero stays exact and each channel uses its full range', () => {
    const values = Float32Array.of(0, 1, -2, 0, 0.5, 0.25);
    const { data, scales } = quantizeSymmetric(values, [3, 2], 1);
    // Columns are the channels: max |w| is 2 in the first, 1 in the second.
    expect(Array.from(scales)).toEqual([2 / 127, 1 / 127].map(Math.fround));
    expect(Array.from(data)).toEqual([0, 127, -127, 0, 32, 32]);
  });
});
