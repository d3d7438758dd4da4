import { create, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { attribute, floatTensor, graph, model, node, randomWeights, tensorValueInfo } from './graph-parts.js';
import { seededRandom } from './seeded-random.js';

/** Options of {@link buildModelWithLoopSubgraph}. */
export interface LoopModelOptions {
  /** Width of the state and of the square weight. @defaultValue 32 */
  width?: number;
  /** Loop iterations. @defaultValue 3 */
  iterations?: number;
  /** @defaultValue 1 */
  seed?: number;
}

/**
 * A `Loop` that applies `state = Tanh(state · W)` `iterations` times, with the square weight
 * `body.W` (`[width, width]`) an initializer of the loop body. Input `input` float32
 * `['N', width]`, output `output` `['N', width]`, opset 13.
 */
export function buildModelWithLoopSubgraph(options: LoopModelOptions = {}): Uint8Array {
  const { width = 32, iterations = 3, seed = 1 } = options;
  const random = seededRandom(seed);
  const body = graph({
    name: 'loop_body',
    nodes: [
      node('Identity', ['cond_in'], ['cond_out']),
      node('MatMul', ['state_in', 'body.W'], ['body.linear']),
      node('Tanh', ['body.linear'], ['state_out']),
    ],
    initializers: [floatTensor('body.W', [width, width], randomWeights(random, width * width, width / 4))],
    inputs: [
      tensorValueInfo('iteration', [], TensorProto_DataType.INT64),
      tensorValueInfo('cond_in', [], TensorProto_DataType.BOOL),
      tensorValueInfo('state_in', null),
    ],
    outputs: [tensorValueInfo('cond_out', [], TensorProto_DataType.BOOL), tensorValueInfo('state_out', null)],
  });
  const trips = create(TensorProtoSchema, { name: 'trips', dims: [], dataType: TensorProto_DataType.INT64, int64Data: [BigInt(iterations)] });
  const g = graph({
    name: 'loop',
    nodes: [node('Loop', ['trips', '', 'input'], ['output'], [attribute.graph('body', body)])],
    initializers: [trips],
    inputs: [tensorValueInfo('input', ['N', width])],
    outputs: [tensorValueInfo('output', ['N', width])],
  });
  return toBinary(ModelProtoSchema, model(g, 13));
}

/**
 * A model with an operator of a custom domain, `com.example::Repeat`, whose `body` subgraph
 * keeps a `[4, 3]` weight in a `Constant` node. No runtime knows the operator; it exists to show
 * that Ferry refuses to rewrite weights in subgraphs whose scoping it does not know.
 */
export function buildModelWithForeignSubgraph(): Uint8Array {
  const random = seededRandom(1);
  const weight = floatTensor('repeat.W', [4, 3], randomWeights(random, 12, 4));
  const body = graph({
    name: 'repeat_body',
    nodes: [node('Constant', [], ['repeat.W'], [attribute.tensor('value', weight)]), node('MatMul', ['x', 'repeat.W'], ['y'])],
    inputs: [tensorValueInfo('x', ['N', 4])],
    outputs: [tensorValueInfo('y', ['N', 3])],
  });
  const repeat = node('Repeat', ['input'], ['output'], [attribute.graph('body', body)]);
  repeat.domain = 'com.example';
  const g = graph({
    name: 'foreign_subgraph',
    nodes: [repeat],
    inputs: [tensorValueInfo('input', ['N', 4])],
    outputs: [tensorValueInfo('output', ['N', 3])],
  });
  const m = model(g, 13);
  m.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.example', version: 1n }));
  return toBinary(ModelProtoSchema, m);
}
