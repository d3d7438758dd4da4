import { OnnxFormatError } from './onnx-format-error.js';

/** What every ONNX model has, however it was read. */
export interface ModelEssentials {
  hasIrVersion: boolean;
  hasGraph: boolean;
  opsetCount: number;
  outputCount: number;
}

/** Throws an {@link OnnxFormatError} naming the first thing a model lacks. */
export function assertModelEssentials(model: ModelEssentials): void {
  if (!model.hasGraph) throw new OnnxFormatError('not an ONNX model: no graph');
  if (!model.hasIrVersion) throw new OnnxFormatError('not an ONNX model: no ir_version');
  if (model.opsetCount === 0) throw new OnnxFormatError('not an ONNX model: no opset_import');
  if (model.outputCount === 0) throw new OnnxFormatError('invalid ONNX model: the graph has no outputs');
}
