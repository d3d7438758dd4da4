import type { FastifyError, FastifyInstance } from 'fastify';
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

function body(code: ErrorCode, message: string, requestId: string, details?: unknown) {
  return { error: { code, message, requestId, ...(details === undefined ? {} : { details }) } };
}

/**
 * One error format everywhere: validation → 400 naming the field, known errors → their
 * status and code, anything else → 500 with the request id and no internals.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | FerryError | Error, request, reply) => {
    if (err instanceof FerryError) {
      if (err.status >= 500) request.log.error({ err }, err.message);
      return reply.status(err.status).send(body(err.code, err.message, request.id, err.details));
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const first = fe.validation[0];
      const field = `${fe.validationContext ?? 'request'}${first?.instancePath?.replaceAll('/', '.') ?? ''}`;
      const message = `${field} ${first?.message ?? 'is invalid'}`;
      return reply.status(400).send(body('validation_failed', message, request.id, { field }));
    }
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      const status = mapped === 'validation_failed' ? 400 : (fe.statusCode ?? 400);
      return reply.status(status).send(body(mapped, fe.message, request.id));
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code: ErrorCode = isErrorCode(fe.code) ? fe.code : 'validation_failed';
      return reply.status(fe.statusCode).send(body(code, fe.message, request.id));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(body('internal_error', 'internal error; quote the request id when reporting it', request.id));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('not_found', `no route ${request.method} ${request.url.split('?')[0]}`, request.id));
  });
}
