import type { ModelProto, TensorProto } from 'onnx-buf';
import { CompressionError } from '../compression-error.js';
import { allGraphs, defaultOpset } from '../model-graph/graph-scopes.js';
import { isExternal } from '../model-graph/tensor-values.js';
import { readModel } from '../onnx/model-codec.js';
import { OnnxFormatError } from '../onnx/onnx-format-error.js';

/** Oldest default-domain opset Ferry rewrites: `Cast` takes an integer `to` and `Mul` broadcasts from 7 on. */
export const MIN_OPSET = 7;

/**
 * Decodes a model and checks that Ferry can rewrite it: self-contained, with a default-domain
 * opset of at least {@link MIN_OPSET}.
 *
 * @throws {@link CompressionError} `invalid_onnx`, `external_data` or `unsupported_model`.
 */
export function readCompressibleModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = readModel(bytes);
  } catch (error) {
    if (error instanceof OnnxFormatError) throw new CompressionError('invalid_onnx', error.message, { cause: error });
    throw error;
  }
  for (const graph of allGraphs(model)) {
    const tensors: TensorProto[] = [...graph.initializer];
    for (const sparse of graph.sparseInitializer) if (sparse.values) tensors.push(sparse.values);
    for (const node of graph.node) for (const a of node.attribute) if (a.t) tensors.push(a.t);
    const external = tensors.find(isExternal);
    if (external) {
      throw new CompressionError(
        'external_data',
        `tensor "${external.name}" keeps its data in an external file; upload a self-contained .onnx (weights embedded)`,
      );
    }
  }
  const opset = defaultOpset(model);
  if (opset === undefined) throw new CompressionError('unsupported_model', 'the model does not import the default ONNX opset');
  if (opset < MIN_OPSET) throw new CompressionError('unsupported_model', `opset ${opset} is older than ${MIN_OPSET}, the oldest Ferry rewrites`);
  return model;
}
