export { ERROR_CODES, statusForCode, isErrorCode, type ErrorCode } from './errors.js';
export { ErrorBody, RESOURCE_NAME_PATTERN, ResourceName, Sha256Hex, IsoDate } from './common.js';
export {
  ROLES,
  type Role,
  Project,
  CreateProjectBody,
  AppKey,
  CreateAppKeyBody,
  AdminToken,
  IssuedAdminToken,
  CreateAdminTokenBody,
  AuditEvent,
  AuditPage,
} from './admin.js';
export {
  MODEL_FORMATS,
  type ModelFormat,
  VARIANT_STATUSES,
  type VariantStatus,
  TensorInfo,
  IoSignature,
  Model,
  CreateModelBody,
  VariantRequires,
  Encoding,
  Accuracy,
  Variant,
  OnnxInspection,
  Version,
  UploadQuery,
} from './models.js';
export {
  BACKENDS,
  type Backend,
  DeviceCapabilities,
  Device,
  CachedModel,
  ResolveRequest,
  ResolveResponse,
  PRECISIONS,
  type Precision,
  ManifestCandidate,
  ManifestPayload,
  MANIFEST_TYPE,
  Jwk,
  Jwks,
} from './device.js';
export {
  ROLLOUT_STATUSES,
  type RolloutStatus,
  Targeting,
  Guardrails,
  RolloutSchedule,
  CreateRolloutBody,
  RolloutEvent,
  Rollout,
  RolloutActionBody,
} from './rollouts.js';
export { CLIENT_ERROR_CODES, type ClientErrorCode } from './errors.js';
export {
  TELEMETRY_EVENT_TYPES,
  type TelemetryEventType,
  TelemetryEvent,
  TelemetryBatch,
  TelemetryAccepted,
} from './telemetry.js';
