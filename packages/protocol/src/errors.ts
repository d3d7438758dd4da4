/**
 * Stable error codes shared by the server, the SDK and the CLI.
 * Each code maps to the HTTP status the server answers with.
 */
export const ERROR_CODES = {
  // 400
  validation_failed: 400,
  invalid_model_name: 400,
  invalid_format: 400,
  empty_body: 400,
  invalid_range: 400,
  // 401 / 403
  unauthenticated: 401,
  invalid_token: 401,
  invalid_app_key: 401,
  forbidden: 403,
  // 404
  not_found: 404,
  project_not_found: 404,
  model_not_found: 404,
  version_not_found: 404,
  artifact_not_found: 404,
  app_key_not_found: 404,
  token_not_found: 404,
  no_servable_version: 404,
  rollout_not_found: 404,
  // 409
  project_exists: 409,
  model_exists: 409,
  version_served: 409,
  conflict: 409,
  rollout_conflict: 409,
  rollout_not_active: 409,
  // 413 / 415 / 416 / 422
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  invalid_onnx: 422,
  external_data: 422,
  unsupported_model: 422,
  invalid_variant_kind: 422,
  invalid_evaluation_set: 422,
  no_compatible_variant: 422,
  invalid_rollout: 422,
  // 499: the client went away before the request finished
  client_closed_request: 499,
  // 5xx
  internal_error: 500,
  storage_unavailable: 503,
  database_unavailable: 503,
} as const;

/** A stable error code string, such as `model_not_found`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status the server answers a given error code with. */
export function statusForCode(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/** True when `code` is one of Ferry's stable error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/**
 * Codes the SDK raises on the device, never sent by the server. Together with
 * {@link ERROR_CODES} they are every code a Ferry error can carry.
 */
export const CLIENT_ERROR_CODES = [
  'manifest_invalid',
  'manifest_signature_invalid',
  'manifest_expired',
  'manifest_mismatch',
  'manifest_rollback',
  'integrity_mismatch',
  'size_mismatch',
  'cache_corrupt',
  'backend_unavailable',
  'download_failed',
  'download_aborted',
  'download_skipped',
  'offline',
  'not_cached',
  'network_error',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];
