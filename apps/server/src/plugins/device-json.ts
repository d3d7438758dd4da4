import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Parses a device request's JSON body; throws fastify's own errors (empty, malformed, forbidden keys). */
export type DeviceJsonParser = (text: string) => unknown;

/**
 * JSON bodies of the device routes (resolve, telemetry). A body that cannot spell a
 * `__proto__` or `constructor` key (neither name in the text, and no `\u` escape that could
 * spell one) is parsed with plain `JSON.parse`; any other body, and any body that does not
 * parse, goes to fastify's own parser, which refuses those keys and answers empty or malformed
 * bodies as everywhere else. Same answers, without secure-json-parse's scans on every device
 * request.
 */
export function deviceJsonParser(app: FastifyInstance): DeviceJsonParser {
  const strict = app.getDefaultJsonParser('error', 'error');
  const strictly = (text: string): unknown => {
    let outcome: { err: Error | null; body?: unknown } = { err: null };
    // fastify's default parser answers synchronously and does not look at the request.
    void strict(undefined as unknown as FastifyRequest, text, (err, body) => {
      outcome = { err, body };
    });
    if (outcome.err) throw outcome.err;
    return outcome.body;
  };
  return (text) => {
    if (text.length === 0 || text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')) return strictly(text);
    try {
      return JSON.parse(text);
    } catch {
      return strictly(text);
    }
  };
}

/** Registers {@link deviceJsonParser} for `application/json` in the calling plugin's scope. */
export function registerDeviceJson(app: FastifyInstance): void {
  const parse = deviceJsonParser(app);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    let parsed: unknown;
    try {
      parsed = parse(body as string);
    } catch (err) {
      return done(err as Error, undefined);
    }
    return done(null, parsed);
  });
}
