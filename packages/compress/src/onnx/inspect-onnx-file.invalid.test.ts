import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attribute, graph, model, node, tensorValueInfo } from '../testing/graph-parts.js';
import { buildMlp, seededBytes } from '../testing/index.js';
import { inspectOnnxFile } from './inspect-onnx-file.js';
import { OnnxFormatError } from './onnx-format-error.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-inspect-invalid-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Inspects `bytes` and returns the OnnxFormatError it must throw. */
async function rejection(bytes: Uint8Array, name = 'bad.onnx'): Promise<OnnxFormatError> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  const error: unknown = await inspectOnnxFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof OnnxFormatError)) {
    throw new Error(`expected an OnnxFormatError for ${bytes.length} bytes, got ${String(error)}`);
  }
  return error;
}

describe('inspectOnnxFile on bad input', () => {
  it('rejects an empty file', async () => {
    const error = await rejection(new Uint8Array());
    expect(error.message).toMatch(/empty/);
    expect(error.code).toBe('invalid_onnx');
    expect(error.name).toBe('OnnxFormatError');
    expect(error).toBeInstanceOf(Error);
  });

  it('rejects random bytes', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      await rejection(seededBytes(seed, 1 + ((seed * 7919) % 50_000)));
    }
  });

  it('rejects the model cut short at every byte', async () => {
    const bytes = buildMlp({ inputSize: 5, hidden: [3], outputs: 2 });
    const messages = new Set<string>();
    for (let cut = 1; cut < bytes.length; cut++) {
      const error = await rejection(bytes.subarray(0, cut));
      messages.add(error.message.replace(/\d+/g, '#'));
    }
    expect([...messages].some((m) => m.startsWith('truncated at byte #'))).toBe(true);
  });

  it('says "truncated at byte N" when a declared length runs past the end of the file', async () => {
    const bytes = buildMlp({ inputSize: 5, hidden: [3], outputs: 2 });
    const error = await rejection(bytes.subarray(0, 40));
    expect(error.message).toMatch(/^truncated at byte 40: graph at byte \d+ declares \d+ bytes but only \d+ remain$/);
  });

  it('rejects a TensorProto serialized alone', async () => {
    const tensor = create(TensorProtoSchema, { name: 'w', dims: [2n, 2n], dataType: TensorProto_DataType.FLOAT, floatData: [1, 2, 3, 4] });
    const error = await rejection(toBinary(TensorProtoSchema, tensor));
    expect(error.message).toMatch(/^not an ONNX model: ModelProto field 2 \(producer_name\) at byte \d+ has wire type varint/);
  });

  it('rejects a GraphProto or NodeProto serialized alone', async () => {
    const g = graph({ name: 'g', nodes: [node('Relu', ['x'], ['y'])], inputs: [tensorValueInfo('x', [1])], outputs: [tensorValueInfo('y', [1])] });
    expect((await rejection(toBinary(GraphProtoSchema, g))).message).toMatch(/^not an ONNX model/);
    expect((await rejection(toBinary(NodeProtoSchema, node('Relu', ['x'], ['y'])))).message).toMatch(/^not an ONNX model/);
  });

  it('rejects a protobuf without a graph, an ir_version or an opset', async () => {
    const noGraph = create(ModelProtoSchema, { irVersion: 7n, producerName: 'x' });
    expect((await rejection(toBinary(ModelProtoSchema, noGraph))).message).toBe('not an ONNX model: no graph');

    const complete = model(graph({ name: 'g', nodes: [], inputs: [], outputs: [tensorValueInfo('y', [1])] }), 13);
    const noIr = create(ModelProtoSchema, { opsetImport: complete.opsetImport, graph: complete.graph });
    expect((await rejection(toBinary(ModelProtoSchema, noIr))).message).toBe('not an ONNX model: no ir_version');

    const noOpset = create(ModelProtoSchema, { ...complete, opsetImport: [] });
    expect((await rejection(toBinary(ModelProtoSchema, noOpset))).message).toBe('not an ONNX model: no opset_import');
  });

  it('rejects a graph with no outputs', async () => {
    const m = model(graph({ name: 'g', nodes: [node('Relu', ['x'], ['y'])], inputs: [tensorValueInfo('x', [1])], outputs: [] }), 13);
    expect((await rejection(toBinary(ModelProtoSchema, m))).message).toBe('invalid ONNX model: the graph has no outputs');
  });

  it('rejects a huge declared length without allocating it', async () => {
    const bytes = new BinaryWriter().tag(1, WireType.Varint).int64(7).tag(7, WireType.LengthDelimited).uint64(2n ** 50n).finish();
    expect((await rejection(bytes)).message).toMatch(/^truncated at byte \d+: graph at byte 2 declares 1125899906842624 bytes/);
  });

  it('rejects a nested length larger than its enclosing message', async () => {
    const graphBody = new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(1000).raw(new Uint8Array(10)).finish();
    const bytes = new BinaryWriter()
      .tag(1, WireType.Varint)
      .int64(7)
      .tag(7, WireType.LengthDelimited)
      .bytes(graphBody)
      .raw(new Uint8Array(2000))
      .finish();
    expect((await rejection(bytes)).message).toMatch(/^corrupt node at byte \d+: declares 1000 bytes, more than the 10 left/);
  });

  it('rejects group and invalid wire types', async () => {
    expect((await rejection(Uint8Array.of(0x0b, 0x0c))).message).toBe('unsupported wire type 3 (group) at byte 0');
    expect((await rejection(Uint8Array.of(0x0e))).message).toBe('corrupt protobuf: invalid wire type 6 at byte 0');
    expect((await rejection(Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))).message).toMatch(
      /varint longer than 10 bytes/,
    );
  });

  it('rejects subgraphs nested absurdly deep instead of overflowing the stack', async () => {
    const leaf = graph({ name: 'leaf', nodes: [], inputs: [], outputs: [tensorValueInfo('y', [1])] });
    let inner = leaf;
    for (let level = 0; level < 60; level++) {
      inner = graph({
        name: `level${level}`,
        nodes: [node('If', ['c'], ['y'], [attribute.graph('then_branch', inner), attribute.graph('else_branch', leaf)])],
        inputs: [],
        outputs: [tensorValueInfo('y', [1])],
      });
    }
    const error = await rejection(toBinary(ModelProtoSchema, model(inner, 13)));
    expect(error.message).toBe('subgraphs nested more than 32 levels deep');
  });

  it('passes file-system errors through unchanged', async () => {
    await expect(inspectOnnxFile(join(dir, 'missing.onnx'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
