import type { ModelProto } from 'onnx-buf';

/**
 * Removes initializers from the main graph's inputs. Before IR version 4 every initializer had
 * to be listed as an input; from 4 on, a listed initializer is a default the caller may
 * override, which stops runtimes from folding it and would expose rewritten weights (new
 * names, new types) as inputs. Raises the IR version to 4 when older, since the rewritten
 * model no longer lists them. Subgraph inputs are positional parameters and stay. Returns how
 * many inputs were removed.
 */
export function dropInitializerInputs(model: ModelProto): number {
  const graph = model.graph;
  if (!graph) return 0;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const before = graph.input.length;
  graph.input = graph.input.filter((input) => !initializers.has(input.name));
  if (model.irVersion < 4n) model.irVersion = 4n;
  return before - graph.input.length;
}
