import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import {
  buildMlp,
  buildModelWithConstantWeights,
  buildModelWithExternalData,
  buildModelWithIfSubgraph,
  buildTinyCnn,
  seededBytes,
} from '../testing/index.js';
import { readModel, writeModel } from './model-codec.js';
import { OnnxFormatError } from './onnx-format-error.js';

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('readModel / writeModel', () => {
  it.each([
    ['MLP', () => buildMlp()],
    ['MLP at opset 8', () => buildMlp({ opset: 8 })],
    ['tiny CNN', () => buildTinyCnn()],
    ['Constant weights', () => buildModelWithConstantWeights()],
    ['If subgraph', () => buildModelWithIfSubgraph()],
    ['external data', () => buildModelWithExternalData()],
  ])('round-trips the %s model byte for byte', (_, build) => {
    const bytes = build();
    expect(sameBytes(writeModel(readModel(bytes)), bytes)).toBe(true);
  });

  it('keeps fields it does not know, byte for byte', () => {
    const unknown = new BinaryWriter().tag(99, WireType.Varint).uint32(42).tag(98, WireType.LengthDelimited).string('future').finish();
    const bytes = Buffer.concat([buildMlp({ inputSize: 4, hidden: [], outputs: 2 }), unknown]);
    expect(sameBytes(writeModel(readModel(bytes)), bytes)).toBe(true);
  });

  it('gives the decoded graph', () => {
    const model = readModel(buildTinyCnn());
    expect(model.graph?.node.map((n) => n.opType)).toEqual(['Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm']);
    expect(model.graph?.initializer.map((t) => t.name)).toEqual(['conv.weight', 'conv.bias', 'fc.weight', 'fc.bias']);
  });

  it.each([
    ['empty input', new Uint8Array(), /empty/],
    ['random bytes', seededBytes(3, 4096), /^not an ONNX model/],
    ['a truncated model', buildMlp().subarray(0, 1000), /^not an ONNX model/],
    [
      'a TensorProto',
      toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 'w', dims: [2n], dataType: TensorProto_DataType.FLOAT, floatData: [1, 2] })),
      /^not an ONNX model/,
    ],
  ])('rejects %s with OnnxFormatError', (_, bytes, message) => {
    let error: unknown;
    try {
      readModel(bytes);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OnnxFormatError);
    expect((error as OnnxFormatError).code).toBe('invalid_onnx');
    expect((error as OnnxFormatError).message).toMatch(message);
  });
});
