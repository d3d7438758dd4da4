import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

// The device API is called from apps on any origin and carries no cookies: an app key is a
// public identifier. The admin API stays same-origin (its dashboard is served by Ferry).
const DEVICE_PATHS = ['/v1/resolve', '/v1/artifacts/', '/v1/telemetry', '/v1/keys', '/.well-known/jwks.json'];

export function isDevicePath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return DEVICE_PATHS.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));
}

/** CORS for the device API only. */
export async function registerDeviceCors(app: FastifyInstance): Promise<void> {
  await app.register(cors, {
    hook: 'onRequest',
    delegator: (request, callback) => {
      if (!isDevicePath(request.url)) return callback(null, { origin: false });
      callback(null, {
        origin: '*',
        methods: ['GET', 'HEAD', 'POST'],
        allowedHeaders: ['content-type', 'x-ferry-app-key', 'range', 'if-none-match', 'if-range'],
        exposedHeaders: ['etag', 'content-length', 'content-range', 'content-encoding', 'accept-ranges', 'x-request-id'],
        maxAge: 86_400,
      });
    },
  });
}
