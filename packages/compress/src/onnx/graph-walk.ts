import {
  AttributeProtoSchema,
  GraphProtoSchema,
  NodeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
} from 'onnx-buf';
import { decodeMessage } from './decode-message.js';
import { WireType, type FieldTag, type FileWireReader } from './file-wire-reader.js';
import {
  constantAttributeFootprint,
  isConstantOperator,
  sparseTensorFootprint,
  tensorFootprint,
  type InspectionTally,
  type ParameterFootprint,
} from './inspection-tally.js';
import type { TensorInfo } from './onnx-file-inspection.js';
import { OnnxFormatError } from './onnx-format-error.js';
import { checkWireType } from './onnx-wire-schema.js';
import {
  scanSparseTensor,
  scanTensor,
  sparseTensorMetadataOf,
  tensorMetadataOf,
  type SparseTensorMetadata,
  type TensorMetadata,
} from './tensor-metadata.js';
import { tensorInfoOf } from './tensor-info.js';

/** The main graph's interface, collected while walking it. */
export interface GraphInterface {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  initializerNames: Set<string>;
}

/** Nodes and attributes up to this size are decoded whole; larger ones are scanned field by field. */
const DECODE_LIMIT = 1024 * 1024;
/** Largest graph input or output description accepted. */
const VALUE_INFO_LIMIT = 16 * 1024 * 1024;
const STRING_LIMIT = 1024 * 1024;
const MAX_GRAPH_DEPTH = 32;

const G = GraphProtoSchema.field;
const N = NodeProtoSchema.field;
const A = AttributeProtoSchema.field;

/**
 * Walks a GraphProto on the wire up to `end`, adding its operators and weights (subgraphs
 * included) to `tally`. With `graphInterface`, also collects the inputs, outputs and
 * initializer names of this graph.
 */
export async function walkGraph(
  reader: FileWireReader,
  end: number,
  tally: InspectionTally,
  depth: number,
  graphInterface?: GraphInterface,
): Promise<void> {
  checkDepth(depth);
  while (reader.position < end) {
    const tag = await reader.readTag();
    checkWireType(GraphProtoSchema, tag, 'corrupt graph');
    switch (tag.field) {
      case G.node.number:
        await walkNode(reader, end, tag, tally, depth);
        break;
      case G.initializer.number: {
        const tensorEnd = await reader.readPayloadEnd(end, 'initializer', tag.at);
        const meta = await scanTensor(reader, tensorEnd);
        tally.addParameters(tensorFootprint(meta));
        if (graphInterface) {
          tally.retain(meta.name.length);
          graphInterface.initializerNames.add(meta.name);
        }
        break;
      }
      case G.sparseInitializer.number: {
        const tensorEnd = await reader.readPayloadEnd(end, 'sparse initializer', tag.at);
        const meta = await scanSparseTensor(reader, tensorEnd);
        tally.addParameters(sparseTensorFootprint(meta));
        if (graphInterface && meta.values) {
          tally.retain(meta.values.name.length);
          graphInterface.initializerNames.add(meta.values.name);
        }
        break;
      }
      case G.input.number:
      case G.output.number: {
        if (graphInterface === undefined) {
          await reader.skipField(tag, end);
          break;
        }
        const what = tag.field === G.input.number ? 'graph input' : 'graph output';
        const bytes = await reader.readDelimited(end, what, tag.at, VALUE_INFO_LIMIT);
        tally.retain(bytes.length);
        const info = tensorInfoOf(decodeMessage(ValueInfoProtoSchema, bytes, what, tag.at));
        (tag.field === G.input.number ? graphInterface.inputs : graphInterface.outputs).push(info);
        break;
      }
      default:
        await reader.skipField(tag, end);
    }
    reader.checkWithin(end, tag);
  }
}

/** Tallies one NodeProto field: decoded whole when small, scanned on the wire when not. */
async function walkNode(reader: FileWireReader, end: number, tag: FieldTag, tally: InspectionTally, depth: number): Promise<void> {
  const length = await reader.readLength(end, 'node', tag.at);
  if (length <= DECODE_LIMIT) {
    tallyNode(decodeMessage(NodeProtoSchema, await reader.readBytes(length), 'node', tag.at), tally, depth);
    return;
  }
  const nodeEnd = reader.position + length;
  let domain = '';
  let opType = '';
  // The domain may follow the attributes on the wire, so hold Constant weights until the end.
  const constantWeights: ParameterFootprint = { count: 0, bytes: 0, external: false };
  while (reader.position < nodeEnd) {
    const field = await reader.readTag();
    checkWireType(NodeProtoSchema, field, 'corrupt node');
    switch (field.field) {
      case N.opType.number:
        opType = await reader.readString(nodeEnd, 'op_type', field.at, STRING_LIMIT);
        break;
      case N.domain.number:
        domain = await reader.readString(nodeEnd, 'domain', field.at, STRING_LIMIT);
        break;
      case N.attribute.number:
        addFootprint(constantWeights, await walkAttribute(reader, nodeEnd, field, tally, depth));
        break;
      default:
        await reader.skipField(field, nodeEnd);
    }
    reader.checkWithin(nodeEnd, field);
  }
  tally.addOperator(domain, opType);
  if (isConstantOperator(domain, opType)) tally.addParameters(constantWeights);
}

/**
 * Tallies the subgraphs of one AttributeProto field and returns the weight it would hold as an
 * attribute of a `Constant` node.
 */
async function walkAttribute(
  reader: FileWireReader,
  end: number,
  tag: FieldTag,
  tally: InspectionTally,
  depth: number,
): Promise<ParameterFootprint> {
  const length = await reader.readLength(end, 'attribute', tag.at);
  if (length <= DECODE_LIMIT) {
    return tallyAttribute(decodeMessage(AttributeProtoSchema, await reader.readBytes(length), 'attribute', tag.at), tally, depth);
  }
  const attributeEnd = reader.position + length;
  let name = '';
  let tensor: TensorMetadata | undefined;
  let sparse: SparseTensorMetadata | undefined;
  let floats = 0;
  let ints = 0;
  while (reader.position < attributeEnd) {
    const field = await reader.readTag();
    checkWireType(AttributeProtoSchema, field, 'corrupt attribute');
    const isBytes = field.wireType === WireType.bytes;
    switch (field.field) {
      case A.name.number:
        name = await reader.readString(attributeEnd, 'attribute name', field.at, STRING_LIMIT);
        break;
      case A.t.number:
        tensor = await scanTensor(reader, await reader.readPayloadEnd(attributeEnd, 'tensor attribute', field.at));
        break;
      case A.sparseTensor.number:
        sparse = await scanSparseTensor(reader, await reader.readPayloadEnd(attributeEnd, 'sparse tensor attribute', field.at));
        break;
      case A.g.number:
      case A.graphs.number:
        await walkGraph(reader, await reader.readPayloadEnd(attributeEnd, 'graph attribute', field.at), tally, depth + 1);
        break;
      case A.floats.number:
        if (isBytes) {
          const packedLength = await reader.readLength(attributeEnd, 'floats', field.at);
          floats += Math.floor(packedLength / 4);
          reader.skip(packedLength);
        } else {
          floats += 1;
          await reader.skipField(field, attributeEnd);
        }
        break;
      case A.ints.number:
        if (isBytes) {
          ints += await reader.countVarints(await reader.readPayloadEnd(attributeEnd, 'ints', field.at));
        } else {
          ints += 1;
          await reader.skipField(field, attributeEnd);
        }
        break;
      default:
        await reader.skipField(field, attributeEnd);
    }
    reader.checkWithin(attributeEnd, field);
  }
  return constantAttributeFootprint(name, { tensor, sparse, floats, ints });
}

/** Tallies a decoded subgraph: its weights, operators and nested subgraphs. */
function tallyGraph(graph: GraphProto, tally: InspectionTally, depth: number): void {
  checkDepth(depth);
  for (const tensor of graph.initializer) tally.addParameters(tensorFootprint(tensorMetadataOf(tensor)));
  for (const sparse of graph.sparseInitializer) tally.addParameters(sparseTensorFootprint(sparseTensorMetadataOf(sparse)));
  for (const node of graph.node) tallyNode(node, tally, depth);
}

function tallyNode(node: NodeProto, tally: InspectionTally, depth: number): void {
  tally.addOperator(node.domain, node.opType);
  const constant = isConstantOperator(node.domain, node.opType);
  for (const attribute of node.attribute) {
    const footprint = tallyAttribute(attribute, tally, depth);
    if (constant) tally.addParameters(footprint);
  }
}

function tallyAttribute(attribute: AttributeProto, tally: InspectionTally, depth: number): ParameterFootprint {
  if (attribute.g) tallyGraph(attribute.g, tally, depth + 1);
  for (const graph of attribute.graphs) tallyGraph(graph, tally, depth + 1);
  return constantAttributeFootprint(attribute.name, {
    tensor: attribute.t && tensorMetadataOf(attribute.t),
    sparse: attribute.sparseTensor && sparseTensorMetadataOf(attribute.sparseTensor),
    floats: attribute.floats.length,
    ints: attribute.ints.length,
  });
}

function addFootprint(total: ParameterFootprint, more: ParameterFootprint): void {
  total.count += more.count;
  total.bytes += more.bytes;
  total.external ||= more.external;
}

function checkDepth(depth: number): void {
  if (depth > MAX_GRAPH_DEPTH) throw new OnnxFormatError(`subgraphs nested more than ${MAX_GRAPH_DEPTH} levels deep`);
}
