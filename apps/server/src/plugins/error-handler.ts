import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import { isErrorCode, type ErrorCode } from '@ferry/protocol';
import { FerryError } from '../errors.js';

// Fastify's own errors that are the client's fault, mapped to Ferry's codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_NOT_FOUND: 'not_found',
};

/** The standard error body: `{"error": {code, message, requestId, details?}}`. */
export type ErrorAnswerBody = ReturnType<typeof body>;

function body(code: ErrorCode, message: string, requestId: string, details?: unknown) {
  return { error: { code, message, requestId, ...(details === undefined ? {} : { details }) } };
}

/**
 * The status and body that answer an error: validation → 400 naming the field, known errors →
 * their status and code, anything else → 500 with the request id and no internals. Server-side
 * failures are logged to `log` (which carries the request id).
 */
export function errorAnswer(
  err: FastifyError | FerryError | Error,
  requestId: string,
  log: FastifyBaseLogger,
): { status: number; body: ErrorAnswerBody } {
  if (err instanceof FerryError) {
    if (err.status >= 500) log.error({ err }, err.message);
    return { status: err.status, body: body(err.code, err.message, requestId, err.details) };
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const field = `${fe.validationContext ?? 'request'}${first?.instancePath?.replaceAll('/', '.') ?? ''}`;
    const message = `${field} ${first?.message ?? 'is invalid'}`;
    return { status: 400, body: body('validation_failed', message, requestId, { field }) };
  }
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) {
    const status = mapped === 'validation_failed' ? 400 : (fe.statusCode ?? 400);
    return { status, body: body(mapped, fe.message, requestId) };
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code: ErrorCode = isErrorCode(fe.code) ? fe.code : 'validation_failed';
    return { status: fe.statusCode, body: body(code, fe.message, requestId) };
  }
  log.error({ err }, 'unhandled error');
  return { status: 500, body: body('internal_error', 'internal error; quote the request id when reporting it', requestId) };
}

/** One error format everywhere (see {@link errorAnswer}), and Ferry's 404 for unknown routes. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | FerryError | Error, request, reply) => {
    const answer = errorAnswer(err, request.id, request.log);
    return reply.status(answer.status).send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('not_found', `no route ${request.method} ${request.url.split('?')[0]}`, request.id));
  });
}
