import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { attribute, floatTensor, graph, model, node, randomWeights, tensorValueInfo } from './graph-parts.js';
import { seededRandom } from './seeded-random.js';

/** Sizes of the single linear layer in the inspection models. */
export interface LinearModelOptions {
  /** @defaultValue 4 */
  inputSize?: number;
  /** @defaultValue 3 */
  outputs?: number;
  /** @defaultValue 1 */
  seed?: number;
}

const OPSET = 13;

/**
 * A linear layer whose weights live in `Constant` nodes rather than initializers, as some
 * exporters write them: `W` (`[inputSize, outputs]`) in a `value` tensor and `b` in
 * `value_floats`. Input `input` float32 `['N', inputSize]`, output `output` `['N', outputs]`;
 * operators `Constant` ×2, `MatMul`, `Add`.
 */
export function buildModelWithConstantWeights(options: LinearModelOptions = {}): Uint8Array {
  const { inputSize = 4, outputs = 3, seed = 1 } = options;
  const random = seededRandom(seed);
  const weight = floatTensor('W', [inputSize, outputs], randomWeights(random, inputSize * outputs, inputSize));
  const bias = Array.from(randomWeights(random, outputs, inputSize));
  const nodes = [
    node('Constant', [], ['W'], [attribute.tensor('value', weight)]),
    node('Constant', [], ['b'], [attribute.floats('value_floats', bias)]),
    node('MatMul', ['input', 'W'], ['matmul']),
    node('Add', ['matmul', 'b'], ['output']),
  ];
  const g = graph({
    name: 'constant_weights',
    nodes,
    inputs: [tensorValueInfo('input', ['N', inputSize])],
    outputs: [tensorValueInfo('output', ['N', outputs])],
  });
  return toBinary(ModelProtoSchema, model(g, OPSET));
}

/**
 * An `If` node choosing between two linear layers without bias: the `then` branch keeps its
 * weight in a `Constant` node, the `else` branch in a subgraph initializer, each
 * `[inputSize, outputs]`. Inputs `input` float32 `['N', inputSize]` and `cond` bool scalar;
 * output `output` `['N', outputs]`. Operators `If`, and in the branches `Constant` and `MatMul` ×2.
 */
export function buildModelWithIfSubgraph(options: LinearModelOptions = {}): Uint8Array {
  const { inputSize = 4, outputs = 3, seed = 1 } = options;
  const random = seededRandom(seed);
  const thenWeight = floatTensor('then.W', [inputSize, outputs], randomWeights(random, inputSize * outputs, inputSize));
  const elseWeight = floatTensor('else.W', [inputSize, outputs], randomWeights(random, inputSize * outputs, inputSize));
  const thenBranch = graph({
    name: 'then',
    nodes: [node('Constant', [], ['then.W'], [attribute.tensor('value', thenWeight)]), node('MatMul', ['input', 'then.W'], ['then.out'])],
    inputs: [],
    outputs: [tensorValueInfo('then.out', ['N', outputs])],
  });
  const elseBranch = graph({
    name: 'else',
    nodes: [node('MatMul', ['input', 'else.W'], ['else.out'])],
    initializers: [elseWeight],
    inputs: [],
    outputs: [tensorValueInfo('else.out', ['N', outputs])],
  });
  const g = graph({
    name: 'if_subgraph',
    nodes: [node('If', ['cond'], ['output'], [attribute.graph('then_branch', thenBranch), attribute.graph('else_branch', elseBranch)])],
    inputs: [tensorValueInfo('input', ['N', inputSize]), tensorValueInfo('cond', [], TensorProto_DataType.BOOL)],
    outputs: [tensorValueInfo('output', ['N', outputs])],
  });
  return toBinary(ModelProtoSchema, model(g, OPSET));
}

/**
 * A `MatMul` by a float32 `[4, 3]` initializer `W` whose data sits in an external file
 * (`data_location = EXTERNAL`, location `weights.bin`, 48 bytes at offset 0). The file itself is
 * not written, so runtimes cannot load the model; it exists for inspection.
 */
export function buildModelWithExternalData(): Uint8Array {
  const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
  const weight = create(TensorProtoSchema, {
    name: 'W',
    dims: [4n, 3n],
    dataType: TensorProto_DataType.FLOAT,
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [entry('location', 'weights.bin'), entry('offset', '0'), entry('length', '48')],
  });
  const g = graph({
    name: 'external_data',
    nodes: [node('MatMul', ['input', 'W'], ['output'])],
    initializers: [weight],
    inputs: [tensorValueInfo('input', ['N', 4])],
    outputs: [tensorValueInfo('output', ['N', 3])],
  });
  return toBinary(ModelProtoSchema, model(g, OPSET));
}
