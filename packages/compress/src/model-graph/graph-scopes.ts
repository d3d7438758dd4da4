import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType, AttributeProtoSchema, NodeProtoSchema, type GraphProto, type ModelProto, type NodeProto } from 'onnx-buf';
import { CompressionError } from '../compression-error.js';
import { isFloatType } from './tensor-values.js';

/** A graph whose weights Ferry may rewrite: the main graph or a subgraph of `If`, `Loop` or `Scan`. */
export interface GraphScope {
  graph: GraphProto;
  /** Where the graph sits, for messages: `main`, `main/If "gate".then_branch`, … */
  path: string;
}

/** Operators whose subgraph attributes Ferry understands: plain nested scopes over the same names. */
const SUBGRAPH_OPERATORS = new Set(['If', 'Loop', 'Scan']);
const MAX_DEPTH = 32;

export function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

/** The subgraphs a node carries in its attributes, with the attribute names. */
export function subgraphsOf(node: NodeProto): { attribute: string; graph: GraphProto }[] {
  const found: { attribute: string; graph: GraphProto }[] = [];
  for (const attribute of node.attribute) {
    if (attribute.g) found.push({ attribute: attribute.name, graph: attribute.g });
    for (const graph of attribute.graphs) found.push({ attribute: attribute.name, graph });
  }
  return found;
}

/**
 * The main graph and every `If` / `Loop` / `Scan` subgraph, parents before children.
 *
 * @throws {@link CompressionError} `unsupported_model` when another operator carries a subgraph
 * holding weights: Ferry does not know that operator's scoping, so it cannot rewrite them.
 */
export function rewritableGraphs(model: ModelProto): GraphScope[] {
  const scopes: GraphScope[] = [];
  const visit = (graph: GraphProto, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new CompressionError('unsupported_model', `subgraphs are nested more than ${MAX_DEPTH} levels deep`);
    scopes.push({ graph, path });
    for (const node of graph.node) {
      const rewritable = isDefaultDomain(node.domain) && SUBGRAPH_OPERATORS.has(node.opType);
      for (const { attribute, graph: subgraph } of subgraphsOf(node)) {
        const where = `${path}/${operatorName(node)} "${node.name || node.output[0] || ''}".${attribute}`;
        if (rewritable) visit(subgraph, where, depth + 1);
        else if (holdsWeights(subgraph, depth + 1)) {
          throw new CompressionError(
            'unsupported_model',
            `operator ${operatorName(node)} in ${path} carries a subgraph (${where}) that holds weights; ` +
              `Ferry rewrites weights only in the main graph and in If, Loop and Scan subgraphs`,
          );
        }
      }
    }
  };
  if (model.graph) visit(model.graph, 'main', 0);
  return scopes;
}

/** Every graph of the model, subgraphs of any operator included. */
export function allGraphs(model: ModelProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  const visit = (graph: GraphProto, depth: number): void => {
    if (depth > MAX_DEPTH) throw new CompressionError('unsupported_model', `subgraphs are nested more than ${MAX_DEPTH} levels deep`);
    graphs.push(graph);
    for (const node of graph.node) for (const { graph: subgraph } of subgraphsOf(node)) visit(subgraph, depth + 1);
  };
  if (model.graph) visit(model.graph, 0);
  return graphs;
}

/** `OpType`, or `domain::OpType` outside the default domain. */
export function operatorName(node: NodeProto): string {
  return isDefaultDomain(node.domain) ? node.opType : `${node.domain}::${node.opType}`;
}

/** True when a Constant node holds a floating-point value. */
export function isFloatConstant(node: NodeProto): boolean {
  if (!isDefaultDomain(node.domain) || node.opType !== 'Constant') return false;
  return node.attribute.some(
    (a) => (a.name === 'value' && a.t !== undefined && isFloatType(a.t.dataType)) || a.name === 'value_float' || a.name === 'value_floats',
  );
}

function holdsWeights(graph: GraphProto, depth: number): boolean {
  if (depth > MAX_DEPTH) throw new CompressionError('unsupported_model', `subgraphs are nested more than ${MAX_DEPTH} levels deep`);
  if (graph.initializer.some((t) => isFloatType(t.dataType)) || graph.sparseInitializer.length > 0) return true;
  return graph.node.some((node) => isFloatConstant(node) || subgraphsOf(node).some((s) => holdsWeights(s.graph, depth + 1)));
}

/** The version of the default-domain opset the model imports, or undefined. */
export function defaultOpset(model: ModelProto): number | undefined {
  const entry = model.opsetImport.find((o) => isDefaultDomain(o.domain));
  return entry === undefined ? undefined : Number(entry.version);
}

/** A default-domain node. */
export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: { int?: Record<string, number> } = {},
): NodeProto {
  const attribute = Object.entries(attributes.int ?? {}).map(([key, value]) =>
    create(AttributeProtoSchema, { name: key, type: AttributeProto_AttributeType.INT, i: BigInt(value) }),
  );
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, name, attribute });
}
