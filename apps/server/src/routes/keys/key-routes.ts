import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, Jwks } from '@ferry/protocol';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { FerryError } from '../../errors.js';
import { optionalBody } from '../../plugins/validation.js';
import { adminSecurity } from '../admin-access.js';

export const keyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Keys reloaded every 30 s in the background (KeyRing.startRefresh): rotations on other replicas show here.
  const jwks = async (_request: unknown, reply: { header: (k: string, v: string) => unknown }) => {
    reply.header('cache-control', 'public, max-age=300');
    return app.keyRing.jwks() as Jwks;
  };
  const schema = { tags: ['device'], summary: 'Public keys that sign manifests (JWKS).', response: { 200: Jwks } };
  app.get('/v1/keys', { schema }, jwks);
  app.get('/.well-known/jwks.json', { schema: { ...schema, hide: true } }, jwks);

  app.post(
    '/v1/keys/rotate',
    {
      schema: {
        tags: ['operations'],
        summary: 'Add a new manifest-signing key (bootstrap admin token only). Replaced keys stay published for the overlap.',
        security: adminSecurity,
        body: optionalBody(
          Type.Object({ overlapHours: Type.Optional(Type.Number({ minimum: 0, maximum: 24 * 365 })) }, { additionalProperties: false }),
        ),
        response: {
          200: Type.Object({ kid: Type.String(), retiring: Type.Array(Type.Object({ kid: Type.String(), retiresAt: Type.String() })) }),
          '4xx': ErrorBody,
        },
      },
    },
    async (request) => {
      const principal = await app.adminAuth.authenticate(request);
      if (principal.projectId !== null) throw new FerryError('forbidden', 'only the bootstrap admin token can rotate signing keys');
      const hours = request.body?.overlapHours;
      const result = await app.keyRing.rotate(hours === undefined ? undefined : hours * 3600 * 1000);
      await recordAudit(app.db.prisma, {
        projectId: null,
        actor: actorOf(principal),
        action: 'signing_key.rotate',
        target: result.kid,
        details: { retiring: result.retiring },
        requestId: request.id,
      });
      return result;
    },
  );
};
