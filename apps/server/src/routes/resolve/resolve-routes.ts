import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, ResolveRequest, ResolveResponse } from '@ferry/protocol';

export const resolveRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/resolve',
    {
      bodyLimit: 64 * 1024,
      schema: {
        tags: ['device'],
        summary: 'The signed manifest of the model variant this device should run; 304 when its cached one is current.',
        security: [{ appKey: [] }],
        body: ResolveRequest,
        response: { 200: ResolveResponse, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const appKey = await app.appKeys.require(request.headers['x-ferry-app-key']);
      const outcome = await app.resolver.resolve(appKey, request.body);
      reply.header('cache-control', 'no-store');
      if (outcome.status === 304) return reply.status(304).send(undefined as never);
      // Sent as serialized with the cached signature: no second pass over the 1–2 KB JWS.
      return reply.type('application/json; charset=utf-8').serializer((body) => body as string).send(outcome.body as never);
    },
  );
};
