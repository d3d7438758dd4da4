// What both platform entry points export besides their own `createFerry`.
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
} from '../../core/client/public-types.js';
export type { Capabilities, Pixels, Platform } from '../../core/platform.js';
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
} from '../../core/errors.js';
export type { DownloadProgress } from '../../core/download/artifact-download.js';
export type { RetryOptions } from '../../core/http/retry.js';
export type { OrtOptions } from '../../core/inference/ort-runtime.js';
export type { TensorLike } from '../../core/inference/runtime.js';
export type { TrustedKey, TrustedKeys } from '../../core/manifest/key-ring.js';
export type { ImagePreprocessing } from '../../core/processing/image-preprocessing.js';
export type { Classification, ClassificationPostprocessing } from '../../core/processing/classification.js';
export type { TelemetryOptions } from '../../core/telemetry/telemetry-client.js';
