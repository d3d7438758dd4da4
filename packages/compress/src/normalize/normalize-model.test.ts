import { describe, expect, it } from 'vitest';
import { readModel } from '../onnx/model-codec.js';
import { buildMlp, buildModelWithConstantWeights, buildModelWithIfSubgraph, runOnnx, seededRandom } from '../testing/index.js';
import { normalizeModel } from './normalize-model.js';

const input = (rows: number, width: number) => {
  const random = seededRandom(5);
  return { type: 'float32' as const, data: Float32Array.from({ length: rows * width }, random), dims: [rows, width] };
};

describe('normalizeModel', () => {
  it('moves weights held in Constant nodes to initializers, computing exactly the same', async () => {
    const original = buildModelWithConstantWeights({ inputSize: 8, outputs: 5 });
    const { bytes, report } = normalizeModel(original);
    expect(report).toEqual({ constantsMoved: 2, initializerInputsRemoved: 0 });
    const graph = readModel(bytes).graph!;
    expect(graph.node.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    expect(graph.initializer.map((t) => [t.name, t.dims.map(Number)])).toEqual([
      ['W', [8, 5]],
      ['b', [5]],
    ]);
    const feeds = { input: input(3, 8) };
    expect((await runOnnx(bytes, feeds)).output).toEqual((await runOnnx(original, feeds)).output);
  });

  it('moves a Constant inside an If branch into that branch, not the main graph', async () => {
    const original = buildModelWithIfSubgraph({ inputSize: 8, outputs: 5 });
    const { bytes, report } = normalizeModel(original);
    expect(report.constantsMoved).toBe(1);
    const graph = readModel(bytes).graph!;
    expect(graph.initializer).toEqual([]);
    const thenBranch = graph.node[0]!.attribute.find((a) => a.name === 'then_branch')!.g!;
    expect(thenBranch.node.map((n) => n.opType)).toEqual(['MatMul']);
    expect(thenBranch.initializer.map((t) => t.name)).toEqual(['then.W']);
    for (const cond of [0, 1]) {
      const feeds = { input: input(2, 8), cond: { type: 'bool' as const, data: Uint8Array.of(cond), dims: [] } };
      expect((await runOnnx(bytes, feeds)).output).toEqual((await runOnnx(original, feeds)).output);
    }
  });

  it.each([7, 8])('drops initializers listed as graph inputs (opset %i, IR 3) and raises the IR version to 4', async (opset) => {
    const original = buildMlp({ inputSize: 6, hidden: [5], outputs: 3, opset });
    expect(readModel(original).graph!.input.map((i) => i.name)).toHaveLength(5);
    const { bytes, report } = normalizeModel(original);
    expect(report.initializerInputsRemoved).toBe(4);
    const model = readModel(bytes);
    expect(model.irVersion).toBe(4n);
    expect(model.graph!.input.map((i) => i.name)).toEqual(['input']);
    const feeds = { input: input(2, 6) };
    expect((await runOnnx(bytes, feeds)).logits).toEqual((await runOnnx(original, feeds)).logits);
  });

  it('gives back the same bytes when there is nothing to normalise', () => {
    const original = buildMlp({ inputSize: 6, hidden: [5], outputs: 3 });
    const { bytes, report } = normalizeModel(original);
    expect(report).toEqual({ constantsMoved: 0, initializerInputsRemoved: 0 });
    expect(Buffer.from(bytes).equals(Buffer.from(original))).toBe(true);
  });
});
