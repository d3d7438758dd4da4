import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';
import { buildTinyCnn } from '@ferry/compress/testing';
import { createOrtRuntime } from '../inference/ort-runtime.js';
import type { OrtModule } from '../inference/ort-types.js';
import { preprocessImage } from '../processing/image-preprocessing.js';
import { softmax } from '../processing/classification.js';
import { FakeFerryServer } from '../../testing/fake-server.js';
import { createTestSigner } from '../../testing/manifest-signer.js';
import { createMemoryPlatform } from '../../testing/memory-platform.js';
import { createFerry } from './create-ferry.js';

const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

describe('classify with onnxruntime-web, driven by the model metadata', () => {
  it('preprocesses pixels as the metadata says, runs the real model, returns labelled top-k', async () => {
    ort.env.wasm.numThreads = 1;
    const signer = await createTestSigner();
    const server = new FakeFerryServer(signer);
    const bytes = buildTinyCnn({ seed: 3 });
    const io = { inputs: [{ name: 'input', type: 'float32', shape: ['N', 1, 28, 28] }], outputs: [{ name: 'logits', type: 'float32', shape: ['N', 10] }] };
    const preprocessing = { type: 'image', invert: true, resize: 'contain', mean: [0.1307], std: [0.3081] };
    await server.publish('cnn', bytes, { io, metadata: { labels: LABELS, preprocessing, postprocessing: { type: 'classification', topK: 4 } } });
    const ferry = createFerry({
      platform: createMemoryPlatform({ fetch: server.fetch }),
      serverUrl: server.origin,
      appKey: server.appKey,
      trustedKeys: signer.publicJwk,
      runtime: createOrtRuntime(async () => ort as unknown as OrtModule),
      telemetry: false,
    });
    const model = await ferry.getModel('cnn', { policy: 'latest' });
    // A 56×40 RGBA picture: a dark bar on white.
    const data = new Uint8ClampedArray(56 * 40 * 4).fill(255);
    for (let y = 5; y < 35; y++) for (let x = 25; x < 31; x++) data.fill(0, (y * 56 + x) * 4, (y * 56 + x) * 4 + 3);
    const pixels = { data, width: 56, height: 40 };
    const top = await model.classify(pixels);
    expect(top).toHaveLength(4);
    expect(top.every((c) => LABELS[c.index] === c.label)).toBe(true);

    const input = preprocessImage(pixels, preprocessing as never, io.inputs[0]);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ input: new ort.Tensor('float32', input.data, input.dims) });
    const expected = softmax(out.logits!.data as Float32Array);
    expect(top[0]!.score).toBeCloseTo(Math.max(...expected), 5);
    expect(top.map((c) => c.index)).toEqual([...expected.keys()].sort((a, b) => expected[b]! - expected[a]!).slice(0, 4));
    expect(await model.classify(pixels, { topK: 1 })).toHaveLength(1);
    await session.release();
    await ferry.close();
  });
});
