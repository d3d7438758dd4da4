import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTinyCnn } from './build-tiny-cnn.js';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

describe('buildTinyCnn', () => {
  it.each([9, 13])('builds a model onnxruntime runs at opset %i, with logits [batch, 10]', async (opset) => {
    const session = await ort.InferenceSession.create(buildTinyCnn({ seed: 2, opset }));
    try {
      expect(session.inputNames).toEqual(['input']);
      const image = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => (i % 28) / 28);
      const { logits } = await session.run({ input: new ort.Tensor('float32', image, [2, 1, 28, 28]) });
      expect(logits?.dims).toEqual([2, 10]);
      expect(Array.from(logits?.data as Float32Array).every(Number.isFinite)).toBe(true);
    } finally {
      await session.release();
    }
  });
});
