import type { GraphProto, NodeProto } from 'onnx-buf';
import { subgraphsOf } from './graph-scopes.js';

/** How a tensor is read: as input `inputIndex` of a node, or as a graph output. */
export type TensorUse = { kind: 'node'; node: NodeProto; inputIndex: number } | { kind: 'output' };

/**
 * Every read of every name in `graph`, including reads from nested subgraphs (of any operator)
 * that refer to the outer name, and not those where a subgraph defines the name itself.
 */
export function tensorUses(graph: GraphProto): Map<string, TensorUse[]> {
  const uses = new Map<string, TensorUse[]>();
  const add = (name: string, use: TensorUse): void => {
    const list = uses.get(name);
    if (list) list.push(use);
    else uses.set(name, [use]);
  };
  for (const node of graph.node) {
    node.input.forEach((name, inputIndex) => {
      if (name !== '') add(name, { kind: 'node', node, inputIndex });
    });
    for (const { graph: subgraph } of subgraphsOf(node)) {
      const defined = definedNames(subgraph);
      for (const [name, inner] of tensorUses(subgraph)) {
        if (!defined.has(name)) for (const use of inner) add(name, use);
      }
    }
  }
  for (const output of graph.output) add(output.name, { kind: 'output' });
  return uses;
}

function definedNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const t of graph.initializer) names.add(t.name);
  for (const v of graph.input) names.add(v.name);
  for (const node of graph.node) for (const out of node.output) names.add(out);
  return names;
}
