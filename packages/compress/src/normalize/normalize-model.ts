import type { ModelProto } from 'onnx-buf';
import { rewritableGraphs } from '../model-graph/graph-scopes.js';
import { writeModel } from '../onnx/model-codec.js';
import { dropInitializerInputs } from './drop-initializer-inputs.js';
import { moveConstantWeights } from './move-constant-weights.js';
import { readCompressibleModel } from './read-compressible-model.js';

/** What {@link normalizeModel} changed. */
export interface NormalizationReport {
  /** Floating-point `Constant` nodes turned into initializers, subgraphs included. */
  constantsMoved: number;
  /** Initializers that were also listed as graph inputs and no longer are. */
  initializerInputsRemoved: number;
}

/** A normalised model and what changed. */
export interface NormalizedModel {
  bytes: Uint8Array;
  report: NormalizationReport;
}

/**
 * Rewrites a model into the shape the variant passes expect, without changing what it computes
 * for its real inputs:
 * - floating-point `Constant` nodes become initializers of the graph they are in (the main
 *   graph or an `If` / `Loop` / `Scan` subgraph), under the same names;
 * - initializers are no longer listed among the main graph's inputs (IR version raised to 4
 *   when older).
 *
 * Opsets 7 and later are accepted as they are; the variant passes pick the operators each
 * opset allows. {@link buildVariant} runs this itself.
 *
 * @throws {@link CompressionError} `invalid_onnx`, `external_data` or `unsupported_model`.
 *
 * @example
 * ```ts
 * const { bytes, report } = normalizeModel(await readFile('exported.onnx'));
 * console.log(`${report.constantsMoved} constants moved`);
 * ```
 */
export function normalizeModel(original: Uint8Array): NormalizedModel {
  const model = readCompressibleModel(original);
  const report = normalizeModelProto(model);
  return { bytes: writeModel(model), report };
}

/** {@link normalizeModel} on a decoded model, in place. */
export function normalizeModelProto(model: ModelProto): NormalizationReport {
  let constantsMoved = 0;
  for (const { graph } of rewritableGraphs(model)) constantsMoved += moveConstantWeights(graph);
  const initializerInputsRemoved = dropInitializerInputs(model);
  return { constantsMoved, initializerInputsRemoved };
}
