// The public API every entry point exports (`@ferry/sdk` for browsers and Node, and the core
// entry for other platforms), besides its own `createFerry`.
export type {
  CacheInfo,
  CacheOptions,
  CachedModelInfo,
  ClassifyOptions,
  DownloadConditions,
  DownloadPolicy,
  Ferry,
  FerryModel,
  FerryOptions,
  GetModelOptions,
  ModelUpdate,
  PrefetchOptions,
} from './client/public-types.js';
export type { Capabilities, Pixels, Platform } from './platform.js';
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
export type { InferenceRuntime, ModelSession, TensorArray, TensorLike } from './inference/runtime.js';
export type { TrustedKey, TrustedKeys } from './manifest/key-ring.js';
export type { ImagePreprocessing } from './processing/image-preprocessing.js';
export type { Classification, ClassificationPostprocessing } from './processing/classification.js';
export type { TelemetryOptions } from './telemetry/telemetry-client.js';
