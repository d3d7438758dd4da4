export { buildMlp, type DenseLayerWeights, type MlpOptions } from './build-mlp.js';
export { buildTinyCnn, type TinyCnnOptions } from './build-tiny-cnn.js';
export {
  buildModelWithConstantWeights,
  buildModelWithExternalData,
  buildModelWithIfSubgraph,
  type LinearModelOptions,
} from './inspection-models.js';
export { seededBytes, seededRandom } from './seeded-random.js';
export { loadMnistDigits, MNIST_PIXELS, type MnistDigits, type MnistSplitOptions } from './mnist-digits.js';
export { trainMnistMlp, type MnistMlp, type MnistTrainingOptions } from './train-mnist-mlp.js';
export { buildModelWithForeignSubgraph, buildModelWithLoopSubgraph, type LoopModelOptions } from './subgraph-models.js';
export { runOnnx, type Feeds } from './run-onnx.js';
export {
  runFeed,
  sileroEvaluation,
  sileroVadModels,
  speechLikeAudio,
  streamVad,
  vadFrames,
  SILERO_EVALUATION_SECONDS,
  type SileroEvaluation,
  type SileroSampleRate,
  type SileroVadModel,
  type VadStream,
} from './silero-vad.js';
