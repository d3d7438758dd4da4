import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { attribute, floatTensor, graph, model, node, randomWeights, tensorValueInfo } from './graph-parts.js';
import { seededRandom } from './seeded-random.js';

/** Options of {@link buildTinyCnn}. */
export interface TinyCnnOptions {
  /** Seed of the random weights. @defaultValue 1 */
  seed?: number;
  /** Default-domain opset, 7 or later. @defaultValue 13 */
  opset?: number;
}

const TINY_CNN = {
  filters: 8,
  kernel: 3,
  /** 28 − 3 + 1 = 26 after the convolution, halved by the pool. */
  pooled: 13,
  classes: 10,
} as const;

/**
 * A small convolutional classifier as ONNX bytes: input `input` float32 `['N', 1, 28, 28]`,
 * `Conv` (8 filters, 3×3) + `Relu` + `MaxPool` (2×2) + `Flatten` + `Gemm` to output `logits`
 * float32 `['N', 10]`, with seeded-random weights.
 */
export function buildTinyCnn(options: TinyCnnOptions = {}): Uint8Array {
  const { seed = 1, opset = 13 } = options;
  if (opset < 7) throw new RangeError(`buildTinyCnn needs opset 7 or later, got ${opset}`);
  const { filters, kernel, pooled, classes } = TINY_CNN;
  const random = seededRandom(seed);
  const flat = filters * pooled * pooled;
  const initializers = [
    floatTensor('conv.weight', [filters, 1, kernel, kernel], randomWeights(random, filters * kernel * kernel, kernel * kernel)),
    floatTensor('conv.bias', [filters], randomWeights(random, filters, kernel * kernel)),
    floatTensor('fc.weight', [flat, classes], randomWeights(random, flat * classes, flat)),
    floatTensor('fc.bias', [classes], randomWeights(random, classes, flat)),
  ];
  const nodes = [
    node('Conv', ['input', 'conv.weight', 'conv.bias'], ['conv'], [attribute.ints('kernel_shape', [kernel, kernel])]),
    node('Relu', ['conv'], ['conv.relu']),
    node('MaxPool', ['conv.relu'], ['pool'], [attribute.ints('kernel_shape', [2, 2]), attribute.ints('strides', [2, 2])]),
    node('Flatten', ['pool'], ['flat'], [attribute.int('axis', 1)]),
    node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits']),
  ];
  return toBinary(
    ModelProtoSchema,
    model(
      graph({
        name: 'tiny_cnn',
        nodes,
        initializers,
        inputs: [tensorValueInfo('input', ['N', 1, 28, 28])],
        outputs: [tensorValueInfo('logits', ['N', classes])],
        opset,
      }),
      opset,
    ),
  );
}
