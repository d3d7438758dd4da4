export { inspectOnnxFile } from './onnx/inspect-onnx-file.js';
export { readModel, writeModel } from './onnx/model-codec.js';
export { OnnxFormatError } from './onnx/onnx-format-error.js';
export type { OnnxFileInspection, OpsetImport, TensorInfo } from './onnx/onnx-file-inspection.js';

export { CompressionError, type CompressionErrorCode } from './compression-error.js';
export { normalizeModel, type NormalizationReport, type NormalizedModel } from './normalize/normalize-model.js';
export { buildVariant } from './variants/build-variant.js';
export { parseVariantKind, type VariantKind } from './variants/variant-kind.js';
export type {
  VariantBuildOptions,
  VariantBuildResult,
  VariantBuildStage,
  VariantRequirements,
} from './variants/variant-build-result.js';
export { evaluateAccuracy } from './accuracy/evaluate-accuracy.js';
export type {
  AccuracyMetrics,
  AccuracyTolerance,
  EvaluationFeed,
  EvaluationOptions,
  EvaluationTensor,
  EvaluationTensorType,
} from './accuracy/evaluation-types.js';
export { precompress, type ContentEncoding, type EncodedBytes, type PrecompressOptions } from './encodings/precompress.js';
