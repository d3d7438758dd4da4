import type * as ort from 'onnxruntime-web';

/** The `onnxruntime-web` module, as `import * as ort from 'onnxruntime-web'` gives it. */
export type OrtModule = typeof ort;
/** An ONNX Runtime tensor. */
export type OrtTensor = ort.Tensor;
/** An ONNX Runtime inference session. */
export type OrtSession = ort.InferenceSession;
