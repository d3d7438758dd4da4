import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { DEMO_MODEL } from '../../demo/demo-model.js';

/** The web example's bundle (`node examples/web/build.mjs`; `npm start` builds it). */
export const EXAMPLE_DIR = fileURLToPath(new URL('../../../../../examples/web/dist', import.meta.url));

/**
 * Serves the web example at /examples/web/ when it has been built, with a config.json that
 * points it at the `default` project's demo model. A real app pins the JWKS at build time; the
 * example takes it from the server that serves it, which is only as safe as that connection.
 */
export const exampleRoutes: FastifyPluginAsync = async (app) => {
  if (!existsSync(EXAMPLE_DIR)) {
    app.log.debug({ dir: EXAMPLE_DIR }, 'web example not built; /examples/web/ is not served');
    return;
  }
  app.get('/examples/web/config.json', { schema: { hide: true } }, async (_request, reply) => {
    const project = await app.db.prisma.project.findUnique({ where: { name: 'default' } });
    const key = project
      ? await app.db.prisma.appKey.findFirst({ where: { projectId: project.id, revokedAt: null }, orderBy: { createdAt: 'asc' } })
      : null;
    reply.header('cache-control', 'no-cache');
    return { appKey: key?.key ?? '', model: DEMO_MODEL, jwks: app.keyRing.jwks() };
  });
  await app.register(fastifyStatic, {
    root: EXAMPLE_DIR,
    prefix: '/examples/web/',
    // Cross-origin isolation lets ONNX Runtime use wasm threads.
    setHeaders: (res) => {
      res.header('cross-origin-opener-policy', 'same-origin');
      res.header('cross-origin-embedder-policy', 'require-corp');
    },
  });
};
