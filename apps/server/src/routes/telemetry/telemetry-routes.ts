import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, TelemetryAccepted, TelemetryBatch } from '@ferry/protocol';
import type { Prisma } from '../../generated/prisma/client.js';
import { registerDeviceJson } from '../../plugins/device-json.js';

export const telemetryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  registerDeviceJson(app);
  app.post(
    '/v1/telemetry',
    {
      bodyLimit: 512 * 1024,
      schema: {
        tags: ['device'],
        summary: 'A batch of device telemetry events; idempotent by event id.',
        security: [{ appKey: [] }],
        body: TelemetryBatch,
        response: { 202: TelemetryAccepted, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const appKey = await app.appKeys.require(request.headers['x-ferry-app-key']);
      const { device, events } = request.body;
      const unique = new Map(events.map((e) => [e.id, e]));
      const result = await app.db.prisma.telemetryEvent.createMany({
        data: [...unique.values()].map((e) => ({
          projectId: appKey.projectId,
          eventId: e.id,
          deviceId: device.id,
          platform: device.platform,
          type: e.type,
          model: e.model,
          version: e.version ?? null,
          variant: e.variant ?? null,
          backend: e.backend ?? null,
          rolloutId: e.rollout?.id ?? null,
          stage: e.rollout?.stage ?? null,
          at: new Date(e.at),
          payload: e as unknown as Prisma.InputJsonValue,
        })),
        skipDuplicates: true,
      });
      return reply.status(202).send({ accepted: result.count, duplicates: events.length - result.count });
    },
  );
};
