// The platform-free core of the Ferry SDK. Apps import `@ferry/sdk` (browser or Node, picked by
// export conditions); this entry is for new platforms: bring a `Platform` and call `createFerry`.
export { createFerry } from './client/ferry-client.js';
export type {
  CacheInfo,
  CacheOptions,
  CachedModelInfo,
  ClassifyOptions,
  CoreFerryOptions,
  DownloadConditions,
  DownloadPolicy,
  Ferry,
  FerryModel,
  FerryOptions,
  GetModelOptions,
  ModelUpdate,
  PrefetchOptions,
} from './client/public-types.js';
export type {
  ArtifactStore,
  Capabilities,
  MetaStore,
  NetworkState,
  Pixels,
  Platform,
  PlatformStorage,
  Sha256Hasher,
  StorageOptions,
} from './platform.js';
export {
  ApiError,
  AuthenticationError,
  BackendUnavailableError,
  CacheCorruptError,
  ConnectionError,
  DownloadAbortedError,
  DownloadError,
  DownloadSkippedError,
  FerryError,
  IntegrityError,
  ManifestExpiredError,
  ManifestInvalidError,
  ManifestMismatchError,
  ManifestRollbackError,
  ManifestSignatureError,
  NotFoundError,
  OfflineError,
  PermissionError,
  ServerError,
  SizeMismatchError,
  type CandidateFailure,
  type FerryErrorCode,
} from './errors.js';
export type { DownloadProgress } from './download/artifact-download.js';
export type { RetryOptions } from './http/retry.js';
export type { OrtOptions } from './inference/ort-runtime.js';
export type { OrtModule } from './inference/ort-types.js';
export type { InferenceRuntime, ModelSession, TensorLike, TensorArray } from './inference/runtime.js';
export type { TrustedKey, TrustedKeys } from './manifest/key-ring.js';
export type { ImagePreprocessing } from './processing/image-preprocessing.js';
export type { Classification, ClassificationPostprocessing } from './processing/classification.js';
export type { TelemetryOptions } from './telemetry/telemetry-client.js';
export { memoryStorage } from './cache/memory-storage.js';
export { freezeCapabilities } from './capabilities.js';
export { portableSha256 } from './hash/sha256.js';
export { SDK_VERSION } from './version.js';
