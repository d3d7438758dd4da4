export { inspectOnnxFile } from './onnx/inspect-onnx-file.js';
export { readModel, writeModel } from './onnx/model-codec.js';
export { OnnxFormatError } from './onnx/onnx-format-error.js';
export type { OnnxFileInspection, OpsetImport, TensorInfo } from './onnx/onnx-file-inspection.js';
