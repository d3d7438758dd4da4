import type { FastifyInstance } from 'fastify';

/**
 * JSON bodies of the device routes (resolve, telemetry), registered in their own plugin
 * scope. A body that cannot spell a `__proto__` or `constructor` key (neither name in the
 * text, and no `\u` escape that could spell one) is parsed with plain `JSON.parse`; any other
 * body, and any body that does not parse, goes to fastify's own parser, which refuses those
 * keys and answers empty or malformed bodies as everywhere else. Same answers, without
 * secure-json-parse's scans on every device request.
 */
export function registerDeviceJson(app: FastifyInstance): void {
  const strict = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.length > 0 && !text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return strict(request, text, done);
      }
      return done(null, parsed);
    }
    return strict(request, text, done);
  });
}
