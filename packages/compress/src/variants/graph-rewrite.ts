import type { GraphProto, NodeProto, TensorProto } from 'onnx-buf';

/**
 * Replaces weight initializers of graphs by encoded ones plus the nodes that decode them back
 * under the original names, so every reader (in subgraphs too) is left as it was. The decoding
 * nodes go first in their graph: they read only initializers.
 */
export class GraphRewrite {
  private readonly edits = new Map<GraphProto, { replaced: Map<TensorProto, TensorProto[]>; decoders: NodeProto[] }>();

  replace(graph: GraphProto, weight: TensorProto, encoded: TensorProto[], decoders: NodeProto[]): void {
    let edit = this.edits.get(graph);
    if (!edit) {
      edit = { replaced: new Map(), decoders: [] };
      this.edits.set(graph, edit);
    }
    edit.replaced.set(weight, encoded);
    edit.decoders.push(...decoders);
  }

  /** Applies every replacement; returns how many weights were replaced. */
  apply(): number {
    let count = 0;
    for (const [graph, { replaced, decoders }] of this.edits) {
      graph.initializer = graph.initializer.flatMap((t) => replaced.get(t) ?? [t]);
      graph.node.unshift(...decoders);
      count += replaced.size;
    }
    return count;
  }
}
