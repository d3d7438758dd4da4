import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CreateRolloutBody, ErrorBody, ResourceName, Rollout, RolloutActionBody } from '@ferry/protocol';
import { actorOf } from '../../auth/principal.js';
import { FerryError } from '../../errors.js';
import { rolloutDto, type RolloutAction } from '../../rollouts/rollout-service.js';
import { optionalBody } from '../../plugins/validation.js';
import { adminSecurity, projectAccess } from '../admin-access.js';
import { modelNotFound } from '../../registry/model-lookup.js';

const ModelParams = Type.Object({ project: ResourceName, model: ResourceName });
const ACTIONS: RolloutAction[] = ['advance', 'pause', 'resume', 'rollback', 'cancel'];

export const rolloutRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/projects/:project/models/:model/rollouts',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'Roll a version out in stages. A single stage [100] publishes it at once.',
        security: adminSecurity,
        params: ModelParams,
        body: CreateRolloutBody,
        response: { 201: Rollout, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const rollout = await app.rollouts.create(project.id, request.params.model, request.body, {
        name: actorOf(principal),
        requestId: request.id,
      });
      return reply.status(201).send(rollout);
    },
  );

  app.get(
    '/v1/projects/:project/models/:model/rollouts',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'Rollouts of a model, newest first.',
        security: adminSecurity,
        params: ModelParams,
        response: { 200: Type.Object({ rollouts: Type.Array(Rollout) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const model = await app.db.prisma.model.findUnique({
        where: { projectId_name: { projectId: project.id, name: request.params.model } },
        include: { rollouts: { orderBy: { createdAt: 'desc' } } },
      });
      if (!model) throw modelNotFound(request.params.model);
      return { rollouts: model.rollouts.map((r) => rolloutDto(r, model.name)) };
    },
  );

  app.get(
    '/v1/projects/:project/models/:model/rollouts/:id',
    {
      schema: {
        tags: ['rollouts'],
        security: adminSecurity,
        params: Type.Object({ project: ResourceName, model: ResourceName, id: Type.String({ maxLength: 100 }) }),
        response: { 200: Rollout, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const r = await app.db.prisma.rollout.findUnique({ where: { id: request.params.id }, include: { model: true } });
      if (!r || r.model.projectId !== project.id || r.model.name !== request.params.model) {
        throw new FerryError('rollout_not_found', `no rollout ${request.params.id} for model "${request.params.model}"`);
      }
      return rolloutDto(r, r.model.name);
    },
  );

  for (const action of ACTIONS) {
    app.post(
      `/v1/projects/:project/rollouts/:id/${action}`,
      {
        schema: {
          tags: ['rollouts'],
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a rollout.`,
          security: adminSecurity,
          params: Type.Object({ project: ResourceName, id: Type.String({ maxLength: 100 }) }),
          body: optionalBody(RolloutActionBody),
          response: { 200: Rollout, '4xx': ErrorBody },
        },
      },
      async (request) => {
        const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
        return app.rollouts.act(project.id, request.params.id, action, { name: actorOf(principal), requestId: request.id }, request.body?.reason);
      },
    );
  }
};
