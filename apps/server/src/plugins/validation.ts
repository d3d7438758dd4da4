import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/** Marks a route body that may be left out entirely (e.g. an optional `{reason}`). */
export const OPTIONAL_BODY = 'x-ferry-optional-body';

export function optionalBody<T extends object>(schema: T): T {
  return { ...schema, [OPTIONAL_BODY]: true };
}

const common = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false } as const;

/** Compiles a JSON body schema the way the routes' bodies are validated. */
export type BodyValidatorCompiler = (schema: object) => ValidateFunction;

/**
 * Query strings, params and headers are text, so their values are coerced ("5" → 5); JSON
 * bodies are taken as sent: a device that sends `"backends": "wasm"` is told it is wrong.
 * Returns the body compiler, for code that validates a body outside fastify's routing.
 */
export function registerValidation(app: FastifyInstance): BodyValidatorCompiler {
  const coercing = new Ajv.default({ ...common, coerceTypes: 'array' });
  const exact = new Ajv.default({ ...common, coerceTypes: false });
  addFormats.default(coercing);
  addFormats.default(exact);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = exact.compile(schema);
    if (!(schema as Record<string, unknown>)[OPTIONAL_BODY]) return validate;
    const optional = ((data: unknown) => {
      if (data === undefined || data === null) return true;
      const ok = validate(data);
      optional.errors = validate.errors;
      return ok;
    }) as ValidateFunction;
    return optional;
  });
  return (schema) => exact.compile(schema);
}
