export { buildMlp, type DenseLayerWeights, type MlpOptions } from './build-mlp.js';
export { buildTinyCnn, type TinyCnnOptions } from './build-tiny-cnn.js';
export {
  buildModelWithConstantWeights,
  buildModelWithExternalData,
  buildModelWithIfSubgraph,
  type LinearModelOptions,
} from './inspection-models.js';
export { seededBytes, seededRandom } from './seeded-random.js';
