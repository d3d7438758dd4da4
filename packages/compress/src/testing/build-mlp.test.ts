import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlp } from './build-mlp.js';
import { seededRandom } from './seeded-random.js';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

async function run(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const result = await session.run({ input: new ort.Tensor('float32', input, dims) });
    return result['logits'] as ort.Tensor;
  } finally {
    await session.release();
  }
}

describe('buildMlp', () => {
  it('builds a model onnxruntime runs, with logits [batch, outputs]', async () => {
    const logits = await run(buildMlp(), new Float32Array(3 * 784).fill(0.5), [3, 784]);
    expect(logits.dims).toEqual([3, 10]);
    expect(logits.type).toBe('float32');
  });

  it.each([7, 9, 11, 17])('runs at opset %i', async (opset) => {
    const logits = await run(buildMlp({ inputSize: 6, hidden: [5, 4], outputs: 3, opset }), new Float32Array(12), [2, 6]);
    expect(logits.dims).toEqual([2, 3]);
  });

  it('computes relu(x·W0 + b0)·W1 + b1 with the weights it is given', async () => {
    const random = seededRandom(7);
    const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
    const weights = [
      { W: values(3 * 4), b: values(4) },
      { W: values(4 * 2), b: values(2) },
    ];
    const x = values(2 * 3);
    const logits = await run(buildMlp({ inputSize: 3, hidden: [4], outputs: 2, weights }), x, [2, 3]);

    const dense = (input: Float32Array, rows: number, k: number, n: number, { W, b }: { W: Float32Array; b: Float32Array }) =>
      Float32Array.from({ length: rows * n }, (_, i) => {
        const r = Math.floor(i / n);
        const c = i % n;
        let sum = b[c] as number;
        for (let j = 0; j < k; j++) sum += (input[r * k + j] as number) * (W[j * n + c] as number);
        return sum;
      });
    const hidden = dense(x, 2, 3, 4, weights[0]!).map((v) => Math.max(0, v));
    const expected = dense(hidden, 2, 4, 2, weights[1]!);
    const actual = logits.data as Float32Array;
    expected.forEach((v, i) => expect(actual[i]).toBeCloseTo(v, 5));
  });

  it('is deterministic per seed', () => {
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
    expect(same(buildMlp({ seed: 3 }), buildMlp({ seed: 3 }))).toBe(true);
    expect(same(buildMlp({ seed: 3 }), buildMlp({ seed: 4 }))).toBe(false);
  });

  it('rejects weights that do not match the layer sizes', () => {
    expect(() => buildMlp({ inputSize: 3, hidden: [], outputs: 2, weights: [{ W: new Float32Array(5), b: new Float32Array(2) }] })).toThrow(
      /needs 6 values/,
    );
  });
});
