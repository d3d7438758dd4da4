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
