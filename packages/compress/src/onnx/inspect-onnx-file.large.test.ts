import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GraphProtoSchema, ModelProtoSchema, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graph, model, node, tensorValueInfo } from '../testing/graph-parts.js';
import { inspectOnnxFile } from './inspect-onnx-file.js';

const SIDE = 2048;
const LAYERS = 6;
const WEIGHT_BYTES = SIDE * SIDE * 4; // 16 MiB each, 96 MiB in all

let dir: string;
let path: string;

/**
 * Streams a model of LAYERS chained MatMuls by SIDE×SIDE float32 initializers to `target`,
 * reusing one weight buffer so that writing it never holds the whole model.
 */
function writeLargeModel(target: string): void {
  const nodes = Array.from({ length: LAYERS }, (_, i) =>
    node('MatMul', [i === 0 ? 'input' : `h${i - 1}`, `w${i}`], [i === LAYERS - 1 ? 'output' : `h${i}`]),
  );
  const skeleton = model(
    graph({ name: 'large', nodes, inputs: [tensorValueInfo('input', ['N', SIDE])], outputs: [tensorValueInfo('output', ['N', SIDE])] }),
    13,
  );
  const graphBody = toBinary(GraphProtoSchema, skeleton.graph ?? create(GraphProtoSchema));
  skeleton.graph = undefined;
  const modelHead = toBinary(ModelProtoSchema, skeleton);

  const weight = new Uint8Array(WEIGHT_BYTES);
  new Float32Array(weight.buffer).fill(0.01);
  const initializers = Array.from({ length: LAYERS }, (_, i) => {
    const header = toBinary(
      TensorProtoSchema,
      create(TensorProtoSchema, { name: `w${i}`, dims: [BigInt(SIDE), BigInt(SIDE)], dataType: TensorProto_DataType.FLOAT }),
    );
    const rawPrefix = new BinaryWriter().tag(9, WireType.LengthDelimited).uint32(WEIGHT_BYTES).finish();
    const tensorLength = header.length + rawPrefix.length + WEIGHT_BYTES;
    const fieldPrefix = new BinaryWriter().tag(5, WireType.LengthDelimited).uint32(tensorLength).finish();
    return { fieldPrefix, header, rawPrefix, length: fieldPrefix.length + tensorLength };
  });
  const graphLength = graphBody.length + initializers.reduce((sum, t) => sum + t.length, 0);

  const fd = openSync(target, 'w');
  try {
    writeSync(fd, modelHead);
    writeSync(fd, new BinaryWriter().tag(7, WireType.LengthDelimited).uint32(graphLength).finish());
    writeSync(fd, graphBody);
    for (const t of initializers) {
      writeSync(fd, t.fieldPrefix);
      writeSync(fd, t.header);
      writeSync(fd, t.rawPrefix);
      writeSync(fd, weight);
    }
  } finally {
    closeSync(fd);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-inspect-large-'));
  path = join(dir, 'large.onnx');
  writeLargeModel(path);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('inspectOnnxFile on a large model', () => {
  it('inspects ~96 MiB of weights without holding them in memory', async () => {
    const before = process.memoryUsage();
    const result = await inspectOnnxFile(path);
    const after = process.memoryUsage();

    expect(result.parameterCount).toBe(LAYERS * SIDE * SIDE);
    expect(result.parameterBytes).toBe(LAYERS * WEIGHT_BYTES);
    expect(result.operators).toEqual({ MatMul: LAYERS });
    expect(result.io.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', SIDE] }]);

    const MB = 1_000_000;
    expect(after.rss - before.rss).toBeLessThan(50 * MB);
    expect(after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)).toBeLessThan(50 * MB);
  });
});
