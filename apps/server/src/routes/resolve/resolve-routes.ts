import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { ErrorBody, ResolveRequest, ResolveResponse } from '@ferry/protocol';
import type { ResolveOutcome } from '../../delivery/resolve-service.js';
import { registerDeviceJson } from '../../plugins/device-json.js';

/** Resolve bodies are small: a device description and a cached-model reference. */
export const RESOLVE_BODY_LIMIT = 64 * 1024;

const asIs = (body: unknown): string => body as string;

function send(reply: FastifyReply, outcome: ResolveOutcome): void {
  reply.header('cache-control', 'no-store');
  if (outcome.status === 304) {
    reply.status(304).send();
    return;
  }
  // Sent as serialized with the cached signature: no second pass over the 1–2 KB JWS.
  reply.type('application/json; charset=utf-8').serializer(asIs).send(outcome.body);
}

export const resolveRoutes: FastifyPluginAsyncTypebox = async (app) => {
  registerDeviceJson(app);
  app.post(
    '/v1/resolve',
    {
      bodyLimit: RESOLVE_BODY_LIMIT,
      schema: {
        tags: ['device'],
        summary: 'The signed manifest of the model variant this device should run; 304 when its cached one is current.',
        security: [{ appKey: [] }],
        body: ResolveRequest,
        response: { 200: ResolveResponse, '4xx': ErrorBody },
      },
    },
    // Not async: with the app key, the model's serving state and the signature cached (the
    // steady state), the answer goes out without waiting on a promise.
    (request, reply) => {
      const outcome = app.resolver.resolveFor(app.appKeys, request.headers['x-ferry-app-key'], request.body);
      if (!(outcome instanceof Promise)) return send(reply, outcome);
      return outcome.then((o) => send(reply, o));
    },
  );
};
