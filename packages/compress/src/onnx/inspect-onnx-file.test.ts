import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  NodeProtoSchema,
  SparseTensorProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildMlp,
  buildModelWithConstantWeights,
  buildModelWithExternalData,
  buildModelWithIfSubgraph,
  buildTinyCnn,
} from '../testing/index.js';
import { tensorValueInfo } from '../testing/graph-parts.js';
import { inspectOnnxFile } from './inspect-onnx-file.js';
import { readModel, writeModel } from './model-codec.js';

let dir: string;
let fileCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function inspect(bytes: Uint8Array) {
  const path = join(dir, `model-${fileCount++}.onnx`);
  await writeFile(path, bytes);
  return inspectOnnxFile(path);
}

/** Bytes that, appended to a model, merge `graphFragment` into its graph (protobuf merge rules). */
function appendToGraph(model: Uint8Array, graphFragment: Uint8Array): Uint8Array {
  const suffix = new BinaryWriter().tag(7, WireType.LengthDelimited).bytes(graphFragment).finish();
  return Buffer.concat([model, suffix]);
}

describe('inspectOnnxFile', () => {
  it('describes the default MLP: interface with dynamic batch, opset, weights and operators', async () => {
    expect(await inspect(buildMlp())).toEqual({
      irVersion: 7,
      opsets: [{ domain: '', version: 13 }],
      producer: 'ferry-testing',
      io: {
        inputs: [{ name: 'input', type: 'float32', shape: ['N', 784] }],
        outputs: [{ name: 'logits', type: 'float32', shape: ['N', 10] }],
      },
      parameterCount: 784 * 64 + 64 + 64 * 10 + 10,
      parameterBytes: (784 * 64 + 64 + 64 * 10 + 10) * 4,
      operators: { Gemm: 2, Relu: 1 },
      externalData: false,
    });
  });

  it('counts every layer of a deeper MLP at another opset', async () => {
    const result = await inspect(buildMlp({ inputSize: 20, hidden: [32, 16], outputs: 5, opset: 11 }));
    expect(result.opsets).toEqual([{ domain: '', version: 11 }]);
    expect(result.irVersion).toBe(6);
    expect(result.parameterCount).toBe(20 * 32 + 32 + 32 * 16 + 16 + 16 * 5 + 5);
    expect(result.operators).toEqual({ Gemm: 3, Relu: 2 });
  });

  it('describes the tiny CNN', async () => {
    const result = await inspect(buildTinyCnn());
    expect(result.io.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 1, 28, 28] }]);
    expect(result.io.outputs).toEqual([{ name: 'logits', type: 'float32', shape: ['N', 10] }]);
    expect(result.parameterCount).toBe(8 * 1 * 3 * 3 + 8 + 8 * 13 * 13 * 10 + 10);
    expect(result.operators).toEqual({ Conv: 1, Relu: 1, MaxPool: 1, Flatten: 1, Gemm: 1 });
  });

  it('counts weights held in Constant nodes (value tensor and value_floats)', async () => {
    const result = await inspect(buildModelWithConstantWeights({ inputSize: 4, outputs: 3 }));
    expect(result.parameterCount).toBe(4 * 3 + 3);
    expect(result.parameterBytes).toBe((4 * 3 + 3) * 4);
    expect(result.operators).toEqual({ Constant: 2, MatMul: 1, Add: 1 });
    expect(result.io.inputs.map((i) => i.name)).toEqual(['input']);
  });

  it('counts operators and weights inside If branches', async () => {
    const result = await inspect(buildModelWithIfSubgraph({ inputSize: 4, outputs: 3 }));
    expect(result.parameterCount).toBe(2 * 4 * 3);
    expect(result.operators).toEqual({ If: 1, Constant: 1, MatMul: 2 });
    expect(result.io.inputs).toEqual([
      { name: 'input', type: 'float32', shape: ['N', 4] },
      { name: 'cond', type: 'bool', shape: [] },
    ]);
  });

  it('scans Constant nodes and If branches larger than 1 MiB without decoding them', async () => {
    const constant = await inspect(buildModelWithConstantWeights({ inputSize: 1024, outputs: 512 }));
    expect(constant.parameterCount).toBe(1024 * 512 + 512);
    expect(constant.operators).toEqual({ Constant: 2, MatMul: 1, Add: 1 });

    const branches = await inspect(buildModelWithIfSubgraph({ inputSize: 1024, outputs: 512 }));
    expect(branches.parameterCount).toBe(2 * 1024 * 512);
    expect(branches.parameterBytes).toBe(2 * 1024 * 512 * 4);
    expect(branches.operators).toEqual({ If: 1, Constant: 1, MatMul: 2 });
  });

  it('flags external data and still counts its weights', async () => {
    const result = await inspect(buildModelWithExternalData());
    expect(result.externalData).toBe(true);
    expect(result.parameterCount).toBe(12);
    expect(result.parameterBytes).toBe(48);
  });

  it('leaves out initializers that old exporters list among the graph inputs', async () => {
    // Opset 8 means IR version 3, where every initializer is also a graph input.
    const old = await inspect(buildMlp({ inputSize: 6, hidden: [4], outputs: 2, opset: 8 }));
    expect(old.io.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 6] }]);

    const model = readModel(buildMlp({ inputSize: 6, hidden: [4], outputs: 2 }));
    model.graph?.input.unshift(tensorValueInfo('layer0.weight', [6, 4]), tensorValueInfo('layer1.bias', [2]));
    const relisted = await inspect(writeModel(model));
    expect(relisted.io.inputs.map((i) => i.name)).toEqual(['input']);
    expect(relisted.parameterCount).toBe(6 * 4 + 4 + 4 * 2 + 2);
  });

  it('reports domains, producer versions, unknown dims and non-float types', async () => {
    const model = readModel(buildMlp({ inputSize: 6, hidden: [], outputs: 2 }));
    model.producerVersion = '2.1.0';
    model.graph?.node.push(create(NodeProtoSchema, { opType: 'FusedGemm', domain: 'com.microsoft', input: ['input'], output: ['extra'] }));
    model.graph?.input.push(
      tensorValueInfo('ids', ['batch', 'sequence'], TensorProto_DataType.INT64),
      tensorValueInfo('mask', [-1, 7], TensorProto_DataType.UINT8),
      tensorValueInfo('scale', null, TensorProto_DataType.FLOAT16),
      create(ValueInfoProtoSchema, { name: 'untyped' }),
      create(ValueInfoProtoSchema, {
        name: 'tokens',
        type: create(TypeProtoSchema, {
          value: { case: 'sequenceType', value: { elemType: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: 8 } } }) } },
        }),
      }),
    );
    const result = await inspect(writeModel(model));
    expect(result.producer).toBe('ferry-testing 2.1.0');
    expect(result.operators).toEqual({ Gemm: 1, 'com.microsoft::FusedGemm': 1 });
    expect(result.io.inputs.slice(1)).toEqual([
      { name: 'ids', type: 'int64', shape: ['batch', 'sequence'] },
      { name: 'mask', type: 'uint8', shape: [null, 7] },
      { name: 'scale', type: 'float16', shape: null },
      { name: 'untyped', type: 'unknown', shape: null },
      { name: 'tokens', type: 'sequence(string)', shape: null },
    ]);
  });

  it('reads packed dims, sparse initializers and sizes of other element types', async () => {
    const packedDims = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .fork()
      .int64(3)
      .int64(5)
      .join()
      .tag(2, WireType.Varint)
      .int32(TensorProto_DataType.FLOAT16)
      .tag(8, WireType.LengthDelimited)
      .string('half')
      .tag(9, WireType.LengthDelimited)
      .bytes(new Uint8Array(30))
      .finish();
    const sparse = toBinary(
      SparseTensorProtoSchema,
      create(SparseTensorProtoSchema, {
        dims: [100n],
        values: create(TensorProtoSchema, { name: 'sparse', dims: [5n], dataType: TensorProto_DataType.FLOAT, floatData: [1, 2, 3, 4, 5] }),
        indices: create(TensorProtoSchema, { dims: [5n], dataType: TensorProto_DataType.INT64, int64Data: [1n, 9n, 20n, 30n, 99n] }),
      }),
    );
    const int4 = toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 'nibbles', dims: [3n], dataType: TensorProto_DataType.INT4, rawData: new Uint8Array(2) }));
    const fragment = new BinaryWriter()
      .tag(5, WireType.LengthDelimited)
      .bytes(packedDims)
      .tag(15, WireType.LengthDelimited)
      .bytes(sparse)
      .tag(5, WireType.LengthDelimited)
      .bytes(int4)
      .finish();
    const base = buildMlp({ inputSize: 2, hidden: [], outputs: 1 });
    const result = await inspect(appendToGraph(base, fragment));
    expect(result.parameterCount).toBe(2 + 1 + 15 + 5 + 3);
    expect(result.parameterBytes).toBe((2 + 1) * 4 + 15 * 2 + (5 * 4 + 5 * 8) + 2);
  });
});
