import type { FastifyInstance } from 'fastify';

// The device API is called from apps on any origin and carries no cookies: an app key is a
// public identifier. The admin API stays same-origin (its dashboard is served by Ferry).
const DEVICE_PATHS = ['/v1/resolve', '/v1/artifacts/', '/v1/telemetry', '/v1/keys', '/.well-known/jwks.json'];

const ALLOW_HEADERS = 'content-type, x-ferry-app-key, range, if-none-match, if-range';
/** Response headers a device-API answer to a cross-origin request carries (preflights aside). */
export const DEVICE_CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'etag, content-length, content-range, content-encoding, accept-ranges, x-request-id',
} as const;

export function isDevicePath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return DEVICE_PATHS.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));
}

/**
 * CORS for the device API only, with constant headers: this runs on every device request,
 * so it stays a few string comparisons (a per-request options delegate cost more than resolve).
 */
export function registerDeviceCors(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (request.headers.origin === undefined || !isDevicePath(request.url)) return done();
    reply.header('access-control-allow-origin', DEVICE_CORS_HEADERS['access-control-allow-origin']);
    if (request.method === 'OPTIONS') {
      reply
        .status(204)
        .header('access-control-allow-methods', 'GET, HEAD, POST')
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', '86400')
        .send();
      return;
    }
    reply.header('access-control-expose-headers', DEVICE_CORS_HEADERS['access-control-expose-headers']);
    done();
  });
  // Preflights are answered by the hook above; these routes only make them routable.
  app.options('/v1/*', { schema: { hide: true } }, async (_request, reply) => reply.status(404).send());
  app.options('/.well-known/jwks.json', { schema: { hide: true } }, async (_request, reply) => reply.status(404).send());
}
