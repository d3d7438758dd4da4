import { beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationFeed } from '../accuracy/evaluation-types.js';
import { buildMlp, MNIST_PIXELS, runOnnx, trainMnistMlp, type MnistDigits } from '../testing/index.js';
import { buildVariant } from './build-variant.js';

/** Fraction of digits a model labels correctly. */
async function labelAccuracy(bytes: Uint8Array, digits: MnistDigits): Promise<number> {
  const { logits } = await runOnnx(bytes, { input: { type: 'float32', data: digits.images, dims: [digits.count, MNIST_PIXELS] } });
  const scores = logits!.data as Float32Array;
  let correct = 0;
  for (let n = 0; n < digits.count; n++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if ((scores[n * 10 + c] as number) > (scores[n * 10 + best] as number)) best = c;
    if (best === digits.labels[n]) correct++;
  }
  return correct / digits.count;
}

const percent = (f: number) => `${(f * 100).toFixed(2)} %`;

let original: Uint8Array;
let heldOut: MnistDigits;
let evaluationSet: EvaluationFeed[];
let originalAccuracy: number;

beforeAll(() => {
  const trained = trainMnistMlp();
  original = buildMlp({ hidden: [trained.hidden], weights: trained.weights });
  heldOut = trained.test;
  // The 2,000 held-out digits, 100 per run.
  evaluationSet = [];
  for (let start = 0; start < heldOut.count; start += 100) {
    const images = heldOut.images.slice(start * MNIST_PIXELS, (start + 100) * MNIST_PIXELS);
    evaluationSet.push({ input: { type: 'float32', data: images, dims: [100, MNIST_PIXELS] } });
  }
}, 120_000);

describe('an MLP trained on the mnist digits', () => {
  it('classifies held-out digits well before compression', async () => {
    expect(heldOut.count).toBe(2000);
    originalAccuracy = await labelAccuracy(original, heldOut);
    console.info(`trained 784-64-10 MLP: ${percent(originalAccuracy)} of 2,000 held-out digits right`);
    expect(originalAccuracy).toBeGreaterThan(0.9);
  });

  async function gated(kind: 'int8' | 'fp16' | 'pruned-50') {
    const result = await buildVariant(original, kind, { evaluation: { inputs: evaluationSet } });
    const accuracy = await labelAccuracy(result.bytes, heldOut);
    console.info(
      `${kind}: ${percent(accuracy)} right vs ${percent(originalAccuracy)} for the original; ` +
        `top-1 agreement ${percent(result.accuracy.top1Agreement!)}, cosine ${result.accuracy.cosine.toFixed(6)}, ` +
        `${result.size} bytes (${(result.size / original.length).toFixed(3)}×), ${result.status}`,
    );
    expect(result.accuracy.samples).toBe(20);
    expect(result.status, result.reason).toBe('ready');
    expect(Math.abs(accuracy - originalAccuracy)).toBeLessThan(0.01);
    return result;
  }

  it.each(['int8', 'fp16'] as const)('as %s keeps ≥ 99 % top-1 agreement on the held-out digits, measured by the gate', async (kind) => {
    const result = await gated(kind);
    expect(result.accuracy.top1Agreement).toBeGreaterThanOrEqual(0.99);
  });

  it('as pruned-50 passes the default pruning gate (top-1 agreement ≥ 97 %)', async () => {
    const result = await gated('pruned-50');
    expect(result.accuracy.top1Agreement).toBeGreaterThanOrEqual(0.97);
  });
});
