import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

async function check(fn: () => Promise<void>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    return (err as Error).message || 'unreachable';
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is up.' } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'The database and the blob store are reachable.' } },
    async (_request, reply) => {
      const [database, blobStore] = await Promise.all([check(() => app.db.ping()), check(() => app.blobs.ping())]);
      const ready = database === 'ok' && blobStore === 'ok';
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', database, blobStore });
    },
  );
};
