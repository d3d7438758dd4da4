import type { ModelProto } from 'onnx-buf';
import { allGraphs } from './graph-scopes.js';

/**
 * Hands out tensor and node names no graph of the model uses yet, so rewrites never capture
 * a name, even across subgraph scopes.
 */
export class NameAllocator {
  private readonly taken = new Set<string>();

  constructor(model: ModelProto) {
    for (const graph of allGraphs(model)) {
      for (const t of graph.initializer) this.taken.add(t.name);
      for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) this.taken.add(v.name);
      for (const node of graph.node) {
        this.taken.add(node.name);
        for (const name of [...node.input, ...node.output]) this.taken.add(name);
      }
    }
  }

  /** `base`, or `base_2`, `base_3`, … when taken; the result is taken from then on. */
  unique(base: string): string {
    let name = base;
    for (let i = 2; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }
}
