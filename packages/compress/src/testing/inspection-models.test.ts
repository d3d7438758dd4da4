import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModelWithConstantWeights, buildModelWithIfSubgraph } from './inspection-models.js';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const { output } = await session.run(feeds);
    if (output === undefined) throw new Error('no output');
    return output;
  } finally {
    await session.release();
  }
}

describe('inspection models', () => {
  it('the Constant-weights model runs, with output [batch, outputs]', async () => {
    const output = await run(buildModelWithConstantWeights({ inputSize: 4, outputs: 3 }), {
      input: new ort.Tensor('float32', new Float32Array(8).fill(1), [2, 4]),
    });
    expect(output.dims).toEqual([2, 3]);
  });

  it('the If model runs either branch, and the branches hold different weights', async () => {
    const bytes = buildModelWithIfSubgraph({ inputSize: 4, outputs: 2 });
    const input = new ort.Tensor('float32', new Float32Array(4).fill(1), [1, 4]);
    const thenOut = await run(bytes, { input, cond: new ort.Tensor('bool', [true], []) });
    const elseOut = await run(bytes, { input, cond: new ort.Tensor('bool', [false], []) });
    expect(thenOut.dims).toEqual([1, 2]);
    expect(elseOut.dims).toEqual([1, 2]);
    expect(Array.from(thenOut.data as Float32Array)).not.toEqual(Array.from(elseOut.data as Float32Array));
  });
});
