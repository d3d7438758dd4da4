import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CreateModelBody, ErrorBody, Model, ResourceName, UpdateModelBody } from '@ferry/protocol';
import { Prisma } from '../../generated/prisma/client.js';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { newId } from '../../auth/secrets.js';
import { FerryError, isUniqueViolation } from '../../errors.js';
import { modelDto } from '../../registry/serializers.js';
import { adminSecurity, projectAccess } from '../admin-access.js';
import { modelNotFound } from '../../registry/model-lookup.js';

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/projects/:project/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Create a model. Its name is unique in the project.',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName }),
        body: CreateModelBody,
        response: { 201: Model, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const { name, task, description, labels, metadata, servingPolicy, variantSettings } = request.body;
      try {
        const model = await app.db.prisma.$transaction(async (tx) => {
          const created = await tx.model.create({
            data: {
              id: newId('mdl'),
              projectId: project.id,
              name,
              task: task ?? null,
              description: description ?? null,
              labels: labels ?? undefined,
              metadata: (metadata as object | undefined) ?? undefined,
              servingPolicy: servingPolicy ?? undefined,
              variantSettings: variantSettings ?? undefined,
            },
          });
          await recordAudit(tx, {
            projectId: project.id,
            actor: actorOf(principal),
            action: 'model.create',
            target: name,
            requestId: request.id,
          });
          return created;
        });
        return reply.status(201).send(modelDto(model));
      } catch (err) {
        if (isUniqueViolation(err)) throw new FerryError('model_exists', `model "${name}" already exists in this project`);
        throw err;
      }
    },
  );

  app.get(
    '/v1/projects/:project/models',
    {
      schema: {
        tags: ['models'],
        security: adminSecurity,
        params: Type.Object({ project: ResourceName }),
        response: { 200: Type.Object({ models: Type.Array(Model) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const models = await app.db.prisma.model.findMany({ where: { projectId: project.id }, orderBy: { name: 'asc' } });
      return { models: models.map(modelDto) };
    },
  );

  app.get(
    '/v1/projects/:project/models/:model',
    {
      schema: {
        tags: ['models'],
        security: adminSecurity,
        params: Type.Object({ project: ResourceName, model: ResourceName }),
        response: { 200: Model, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const model = await app.db.prisma.model.findUnique({
        where: { projectId_name: { projectId: project.id, name: request.params.model } },
      });
      if (!model) throw modelNotFound(request.params.model);
      return modelDto(model);
    },
  );

  app.patch(
    '/v1/projects/:project/models/:model',
    {
      schema: {
        tags: ['models'],
        summary: 'Change a model’s task, description, labels, metadata or serving policy (candidate order).',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName, model: ResourceName }),
        body: UpdateModelBody,
        response: { 200: Model, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const json = (v: unknown) => (v === null ? Prisma.DbNull : (v as Prisma.InputJsonValue));
      const b = request.body;
      const model = await app.db.prisma.$transaction(async (tx) => {
        const found = await tx.model.findUnique({ where: { projectId_name: { projectId: project.id, name: request.params.model } } });
        if (!found) throw modelNotFound(request.params.model);
        const updated = await tx.model.update({
          where: { id: found.id },
          data: {
            ...(b.task !== undefined ? { task: b.task } : {}),
            ...(b.description !== undefined ? { description: b.description } : {}),
            ...(b.labels !== undefined ? { labels: json(b.labels) } : {}),
            ...(b.metadata !== undefined ? { metadata: json(b.metadata) } : {}),
            ...(b.servingPolicy !== undefined ? { servingPolicy: json(b.servingPolicy) } : {}),
            ...(b.variantSettings !== undefined ? { variantSettings: json(b.variantSettings) } : {}),
            // Labels, metadata and policy are part of what devices are served.
            release: { increment: 1 },
          },
        });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'model.update',
          target: found.name,
          details: b as Prisma.InputJsonValue,
          requestId: request.id,
        });
        return updated;
      });
      app.serving.invalidate(project.id, model.name);
      return modelDto(model);
    },
  );
};
