import { create } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';

/** A dimension: a fixed size or a named dynamic one. */
export type Dimension = number | string;

/** A float32 initializer holding `values` as little-endian raw data. */
export function floatTensor(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (values.length !== expected) {
    throw new RangeError(`tensor ${name} of shape [${dims.join(', ')}] needs ${expected} values, got ${values.length}`);
  }
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: TensorProto_DataType.FLOAT,
    rawData: bytes,
  });
}

/** `count` seeded-random values, uniform in ±1/√fanIn as PyTorch initialises linear layers. */
export function randomWeights(random: () => number, count: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = (random() * 2 - 1) * bound;
  return values;
}

/** A tensor-typed graph input or output. */
export function tensorValueInfo(
  name: string,
  shape: readonly Dimension[] | null,
  elemType: TensorProto_DataType = TensorProto_DataType.FLOAT,
): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType });
  if (shape !== null) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((dim) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof dim === 'number' ? { case: 'dimValue', value: BigInt(dim) } : { case: 'dimParam', value: dim },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

/** A node in the default domain. */
export function node(opType: string, inputs: string[], outputs: string[], attribute: AttributeProto[] = []): NodeProto {
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, name: `${opType}_${outputs[0] ?? ''}`, attribute });
}

/** Attribute constructors for the kinds the builders use. */
export const attribute = {
  int: (name: string, i: number) => create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(i) }),
  ints: (name: string, ints: number[]) =>
    create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: ints.map(BigInt) }),
  floats: (name: string, floats: number[]) => create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOATS, floats }),
  tensor: (name: string, t: TensorProto) => create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.TENSOR, t }),
  graph: (name: string, g: GraphProto) => create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.GRAPH, g }),
};

/**
 * The IR version that matches an opset, as the ONNX release that introduced the opset wrote it.
 * Runtimes reject an IR version older than the opset needs.
 */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** Wraps a graph in a model importing the default-domain `opset`. */
export function model(graph: GraphProto, opset: number): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: BigInt(irVersionForOpset(opset)),
    producerName: 'ferry-testing',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    graph,
  });
}

/** A graph; before IR version 4 every initializer must also be listed as a graph input. */
export function graph(parts: {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  opset?: number;
}): GraphProto {
  const initializers = parts.initializers ?? [];
  const inputs = [...parts.inputs];
  if (parts.opset !== undefined && irVersionForOpset(parts.opset) < 4) {
    for (const t of initializers) inputs.push(tensorValueInfo(t.name, t.dims.map(Number), t.dataType));
  }
  return create(GraphProtoSchema, {
    name: parts.name,
    node: parts.nodes,
    initializer: initializers,
    input: inputs,
    output: parts.outputs,
  });
}
