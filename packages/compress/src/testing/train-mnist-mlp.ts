import type { DenseLayerWeights } from './build-mlp.js';
import { loadMnistDigits, MNIST_PIXELS, type MnistDigits, type MnistSplitOptions } from './mnist-digits.js';
import { seededRandom } from './seeded-random.js';

/** Options of {@link trainMnistMlp}. */
export interface MnistTrainingOptions extends MnistSplitOptions {
  /** Width of the hidden layer. @defaultValue 64 */
  hidden?: number;
  /** @defaultValue 4 */
  epochs?: number;
  /** @defaultValue 32 */
  batchSize?: number;
  /** Adam step size. @defaultValue 0.002 */
  learningRate?: number;
}

/** A trained 784-`hidden`-10 MLP and the digits it was trained and held out on. */
export interface MnistMlp {
  /** In {@link buildMlp}'s layout: `buildMlp({ hidden: [hidden], weights })`. */
  weights: DenseLayerWeights[];
  hidden: number;
  train: MnistDigits;
  test: MnistDigits;
  /** Fraction of held-out digits the trained weights classify correctly (computed in JS). */
  testAccuracy: number;
}

const CLASSES = 10;

/**
 * Trains a 784-`hidden`-10 ReLU MLP on the `mnist` digits with minibatch Adam and softmax
 * cross-entropy, in plain TypeScript: about 2 s for the defaults (8,000 training digits,
 * 4 epochs), deterministic per seed, about 93 % accurate on the 2,000 held-out digits.
 *
 * @example
 * ```ts
 * const { weights, hidden, test } = trainMnistMlp();
 * const bytes = buildMlp({ hidden: [hidden], weights });
 * ```
 */
export function trainMnistMlp(options: MnistTrainingOptions = {}): MnistMlp {
  const { hidden = 64, epochs = 4, batchSize = 32, learningRate = 0.002, seed = 1 } = options;
  const { train, test } = loadMnistDigits(options);
  const random = seededRandom(seed + 1);
  const init = (count: number, fanIn: number) => {
    const bound = Math.sqrt(6 / fanIn);
    return Float32Array.from({ length: count }, () => (random() * 2 - 1) * bound);
  };
  const params = [init(MNIST_PIXELS * hidden, MNIST_PIXELS), new Float32Array(hidden), init(hidden * CLASSES, hidden), new Float32Array(CLASSES)];
  const [W1, b1, W2, b2] = params as [Float32Array, Float32Array, Float32Array, Float32Array];
  const grads = params.map((p) => new Float32Array(p.length));
  const [gW1, gb1, gW2, gb2] = grads as [Float32Array, Float32Array, Float32Array, Float32Array];
  const adam = new Adam(params, learningRate);

  const h = new Float32Array(hidden);
  const dh = new Float32Array(hidden);
  const p = new Float64Array(CLASSES);
  const order = Array.from({ length: train.count }, (_, i) => i);
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, random);
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.slice(start, start + batchSize);
      for (const g of grads) g.fill(0);
      for (const n of batch) {
        const x = train.images.subarray(n * MNIST_PIXELS, (n + 1) * MNIST_PIXELS);
        forward(x, W1, b1, W2, b2, h, p);
        // d(loss)/d(logits) = softmax − one-hot, averaged over the batch.
        p[train.labels[n] as number] = (p[train.labels[n] as number] as number) - 1;
        for (let c = 0; c < CLASSES; c++) p[c] = (p[c] as number) / batch.length;
        for (let k = 0; k < hidden; k++) {
          const hk = h[k] as number;
          let sum = 0;
          for (let c = 0; c < CLASSES; c++) {
            const d = p[c] as number;
            gW2[k * CLASSES + c] = (gW2[k * CLASSES + c] as number) + hk * d;
            sum += (W2[k * CLASSES + c] as number) * d;
          }
          dh[k] = hk > 0 ? sum : 0;
        }
        for (let c = 0; c < CLASSES; c++) gb2[c] = (gb2[c] as number) + (p[c] as number);
        for (let k = 0; k < hidden; k++) gb1[k] = (gb1[k] as number) + (dh[k] as number);
        for (let j = 0; j < MNIST_PIXELS; j++) {
          const xj = x[j] as number;
          if (xj === 0) continue;
          const row = j * hidden;
          for (let k = 0; k < hidden; k++) gW1[row + k] = (gW1[row + k] as number) + xj * (dh[k] as number);
        }
      }
      adam.step(grads);
    }
  }

  let correct = 0;
  for (let n = 0; n < test.count; n++) {
    forward(test.images.subarray(n * MNIST_PIXELS, (n + 1) * MNIST_PIXELS), W1, b1, W2, b2, h, p);
    if (argMax(p) === test.labels[n]) correct++;
  }
  return {
    weights: [
      { W: W1, b: b1 },
      { W: W2, b: b2 },
    ],
    hidden,
    train,
    test,
    testAccuracy: correct / test.count,
  };
}

/** Hidden activations into `h`, softmax probabilities into `p`. */
function forward(x: Float32Array, W1: Float32Array, b1: Float32Array, W2: Float32Array, b2: Float32Array, h: Float32Array, p: Float64Array): void {
  const hidden = h.length;
  h.set(b1);
  for (let j = 0; j < MNIST_PIXELS; j++) {
    const xj = x[j] as number;
    if (xj === 0) continue;
    const row = j * hidden;
    for (let k = 0; k < hidden; k++) h[k] = (h[k] as number) + xj * (W1[row + k] as number);
  }
  for (let k = 0; k < hidden; k++) if ((h[k] as number) < 0) h[k] = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < CLASSES; c++) {
    let z = b2[c] as number;
    for (let k = 0; k < hidden; k++) z += (h[k] as number) * (W2[k * CLASSES + c] as number);
    p[c] = z;
    max = Math.max(max, z);
  }
  let total = 0;
  for (let c = 0; c < CLASSES; c++) {
    p[c] = Math.exp((p[c] as number) - max);
    total += p[c] as number;
  }
  for (let c = 0; c < CLASSES; c++) p[c] = (p[c] as number) / total;
}

class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(
    private readonly params: Float32Array[],
    private readonly rate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
  ) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  step(grads: Float32Array[]): void {
    this.t++;
    const correction1 = 1 - this.beta1 ** this.t;
    const correction2 = 1 - this.beta2 ** this.t;
    this.params.forEach((param, i) => {
      const g = grads[i] as Float32Array;
      const m = this.m[i] as Float32Array;
      const v = this.v[i] as Float32Array;
      for (let j = 0; j < param.length; j++) {
        const gj = g[j] as number;
        const mj = this.beta1 * (m[j] as number) + (1 - this.beta1) * gj;
        const vj = this.beta2 * (v[j] as number) + (1 - this.beta2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        param[j] = (param[j] as number) - (this.rate * (mj / correction1)) / (Math.sqrt(vj / correction2) + 1e-8);
      }
    });
  }
}

function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

function shuffle(order: number[], random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
}
