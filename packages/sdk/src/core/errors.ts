import type { ClientErrorCode, ErrorCode } from '@ferry/protocol';
import type { HttpAnswer } from './http/transport.js';

/** Every code a {@link FerryError} can carry: the server's codes and the SDK's own. */
export type FerryErrorCode = ErrorCode | ClientErrorCode;

/** Options shared by every Ferry error. */
export interface FerryErrorOptions {
  cause?: unknown;
  /** HTTP status when the error came from a server answer. */
  status?: number;
  /** The model the operation was about. */
  model?: string;
}

/**
 * Base class of every error the SDK throws. `code` is a stable string shared with the server
 * (see `@ferry/protocol`): branch on it, or on the subclass, never on the message.
 *
 * @example
 * ```ts
 * try { await ferry.getModel('digits'); }
 * catch (err) { if (err instanceof FerryError && err.code === 'offline') showOfflineBanner(); }
 * ```
 */
export class FerryError extends Error {
  override name = 'FerryError';
  readonly code: FerryErrorCode;
  readonly status: number | undefined;
  readonly model: string | undefined;

  constructor(code: FerryErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.model = options.model;
  }
}

// --- Manifest verification -------------------------------------------------------------------

/** The manifest is not a well-formed compact JWS or its payload lacks required fields. */
export class ManifestInvalidError extends FerryError {
  override name = 'ManifestInvalidError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('manifest_invalid', message, options);
  }
}

/** The manifest's signature does not verify against any pinned key (or its key id is unknown). */
export class ManifestSignatureError extends FerryError {
  override name = 'ManifestSignatureError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('manifest_signature_invalid', message, options);
  }
}

/** The manifest's `exp` is in the past (beyond the allowed clock skew): a freeze attack or a stale proxy. */
export class ManifestExpiredError extends FerryError {
  override name = 'ManifestExpiredError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('manifest_expired', message, options);
  }
}

/** The manifest was issued for another app key or another model (mix-and-match). */
export class ManifestMismatchError extends FerryError {
  override name = 'ManifestMismatchError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('manifest_mismatch', message, options);
  }
}

/** The manifest's release is older than one this device already accepted (rollback). */
export class ManifestRollbackError extends FerryError {
  override name = 'ManifestRollbackError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('manifest_rollback', message, options);
  }
}

// --- Artifact integrity -----------------------------------------------------------------------

/** The artifact's SHA-256 differs from the signed manifest's. */
export class IntegrityError extends FerryError {
  override name = 'IntegrityError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('integrity_mismatch', message, options);
  }
}

/** The artifact has more (or fewer) bytes than the signed manifest says (endless data). */
export class SizeMismatchError extends FerryError {
  override name = 'SizeMismatchError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('size_mismatch', message, options);
  }
}

/** A cached entry failed re-verification on load; it was discarded. */
export class CacheCorruptError extends FerryError {
  override name = 'CacheCorruptError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('cache_corrupt', message, options);
  }
}

// --- Inference --------------------------------------------------------------------------------

/** Why one candidate of a manifest was not used. */
export interface CandidateFailure {
  variant: string;
  backend: string;
  reason: string;
}

/** No candidate of the manifest could run on this device. `failures` says why for each. */
export class BackendUnavailableError extends FerryError {
  override name = 'BackendUnavailableError';
  readonly failures: readonly CandidateFailure[];
  constructor(message: string, failures: readonly CandidateFailure[], options?: FerryErrorOptions) {
    super('backend_unavailable', message, options);
    this.failures = failures;
  }
}

// --- Download and network -----------------------------------------------------------------------

/** The download failed after every retry. */
export class DownloadError extends FerryError {
  override name = 'DownloadError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('download_failed', message, options);
  }
}

/** The caller's `AbortSignal` cancelled the operation. */
export class DownloadAbortedError extends FerryError {
  override name = 'DownloadAbortedError';
  constructor(message = 'the download was cancelled', options?: FerryErrorOptions) {
    super('download_aborted', message, options);
  }
}

/** The download was not started because of the caller's conditions (size, metered network). */
export class DownloadSkippedError extends FerryError {
  override name = 'DownloadSkippedError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('download_skipped', message, options);
  }
}

/** The server could not be reached (no network, DNS, refused, reset, timeout). */
export class ConnectionError extends FerryError {
  override name = 'ConnectionError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('network_error', message, options);
  }
}

/** The device is offline and nothing usable is cached. */
export class OfflineError extends FerryError {
  override name = 'OfflineError';
  constructor(message: string, options?: FerryErrorOptions) {
    super('offline', message, options);
  }
}

// --- Server answers -----------------------------------------------------------------------------

/** An error answer of the Ferry server; `code` is the server's stable code. */
export class ApiError extends FerryError {
  override name = 'ApiError';
  /** The server's request id, to quote when asking for help. */
  readonly requestId: string | undefined;
  constructor(code: FerryErrorCode, message: string, options: FerryErrorOptions & { requestId?: string } = {}) {
    super(code, message, options);
    this.requestId = options.requestId;
  }
}

/** 401: the app key is missing, unknown or revoked. */
export class AuthenticationError extends ApiError {
  override name = 'AuthenticationError';
}

/** 403: the app key may not do this. */
export class PermissionError extends ApiError {
  override name = 'PermissionError';
}

/** 404: no such model, artifact, or no version this device may be served. */
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}

/** 429 or 5xx: the server is overloaded or failing; retried before it surfaces. */
export class ServerError extends ApiError {
  override name = 'ServerError';
}

/** True for failures that say nothing about the model's authenticity: worth serving the cache instead. */
export function isTransientError(err: unknown): boolean {
  return err instanceof ConnectionError || err instanceof ServerError || err instanceof DownloadError || err instanceof OfflineError;
}

/** True for failures of verification: a possible attack, reported as `verify_failure`. */
export function isVerificationError(err: unknown): boolean {
  return (
    err instanceof ManifestInvalidError ||
    err instanceof ManifestSignatureError ||
    err instanceof ManifestExpiredError ||
    err instanceof ManifestMismatchError ||
    err instanceof ManifestRollbackError ||
    err instanceof IntegrityError ||
    err instanceof SizeMismatchError ||
    err instanceof CacheCorruptError
  );
}

/** Turns an error answer into the matching typed error. */
export async function errorFromResponse(response: HttpAnswer, context: { model?: string } = {}): Promise<ApiError> {
  const status = response.status;
  let code: string | undefined;
  let message: string | undefined;
  let requestId = response.headers.get('x-request-id') ?? undefined;
  try {
    const body = JSON.parse(await response.text()) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } };
    if (typeof body?.error?.code === 'string') code = body.error.code;
    if (typeof body?.error?.message === 'string') message = body.error.message;
    if (typeof body?.error?.requestId === 'string') requestId = body.error.requestId;
  } catch {
    // Not a Ferry error body (a proxy's HTML page, say): the status speaks for itself.
  }
  const fallback: FerryErrorCode =
    status === 401 ? 'unauthenticated' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : status >= 500 ? 'internal_error' : 'validation_failed';
  const finalCode = (code ?? fallback) as FerryErrorCode;
  const finalMessage = message ?? `the server answered ${status} ${response.statusText ?? ''}`.trim();
  const options = { status, requestId, model: context.model };
  if (status === 401) return new AuthenticationError(finalCode, finalMessage, options);
  if (status === 403) return new PermissionError(finalCode, finalMessage, options);
  if (status === 404) return new NotFoundError(finalCode, finalMessage, options);
  if (status === 429 || status >= 500) return new ServerError(finalCode, finalMessage, options);
  return new ApiError(finalCode, finalMessage, options);
}
