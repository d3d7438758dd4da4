import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type NodeProto, type TensorProto } from 'onnx-buf';
import { floatTensor, graph, model, node, randomWeights, tensorValueInfo } from './graph-parts.js';
import { seededRandom } from './seeded-random.js';

/** Weights of one dense layer: `W` is row-major `[in, out]`, `b` is `[out]`. */
export interface DenseLayerWeights {
  W: Float32Array;
  b: Float32Array;
}

/** Options of {@link buildMlp}. */
export interface MlpOptions {
  /** @defaultValue 784 */
  inputSize?: number;
  /** Widths of the hidden layers. @defaultValue [64] */
  hidden?: number[];
  /** @defaultValue 10 */
  outputs?: number;
  /** Seed of the random weights. @defaultValue 1 */
  seed?: number;
  /** Default-domain opset, 7 or later. @defaultValue 13 */
  opset?: number;
  /** Exact weights per layer (hidden layers, then the output layer) instead of random ones. */
  weights?: DenseLayerWeights[];
}

/**
 * A multilayer perceptron as ONNX bytes: `Gemm` + `Relu` per hidden layer and a final `Gemm`,
 * from input `input` float32 `['N', inputSize]` to output `logits` float32 `['N', outputs]`.
 * Weights are seeded-random (uniform ±1/√fan-in) unless given. Layer `i` stores
 * `layer{i}.weight` and `layer{i}.bias`. Opsets before 9 also list the initializers among the
 * graph inputs, as IR version 3 requires.
 *
 * @example
 * ```ts
 * const bytes = buildMlp({ inputSize: 4, hidden: [8], outputs: 2 });
 * ```
 */
export function buildMlp(options: MlpOptions = {}): Uint8Array {
  const { inputSize = 784, hidden = [64], outputs = 10, seed = 1, opset = 13, weights } = options;
  if (opset < 7) throw new RangeError(`buildMlp needs opset 7 or later (Gemm broadcasting), got ${opset}`);
  const widths = [inputSize, ...hidden, outputs];
  const layerCount = widths.length - 1;
  if (weights !== undefined && weights.length !== layerCount) {
    throw new RangeError(`buildMlp needs weights for ${layerCount} layers, got ${weights.length}`);
  }
  const random = seededRandom(seed);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = 'input';
  for (let i = 0; i < layerCount; i++) {
    const fanIn = widths[i] as number;
    const fanOut = widths[i + 1] as number;
    const layer = weights?.[i] ?? {
      W: randomWeights(random, fanIn * fanOut, fanIn),
      b: randomWeights(random, fanOut, fanIn),
    };
    initializers.push(floatTensor(`layer${i}.weight`, [fanIn, fanOut], layer.W), floatTensor(`layer${i}.bias`, [fanOut], layer.b));
    const last = i === layerCount - 1;
    const gemmOut = last ? 'logits' : `layer${i}.linear`;
    nodes.push(node('Gemm', [current, `layer${i}.weight`, `layer${i}.bias`], [gemmOut]));
    if (!last) {
      nodes.push(node('Relu', [gemmOut], [`layer${i}.relu`]));
      current = `layer${i}.relu`;
    }
  }
  return toBinary(
    ModelProtoSchema,
    model(
      graph({
        name: 'mlp',
        nodes,
        initializers,
        inputs: [tensorValueInfo('input', ['N', inputSize])],
        outputs: [tensorValueInfo('logits', ['N', outputs])],
        opset,
      }),
      opset,
    ),
  );
}
