import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppKey, CreateAppKeyBody, ErrorBody, ResourceName } from '@ferry/protocol';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { newAppKey, newId } from '../../auth/secrets.js';
import { FerryError } from '../../errors.js';
import { appKeyDto } from '../../registry/serializers.js';
import { optionalBody } from '../../plugins/validation.js';
import { adminSecurity, projectAccess } from '../admin-access.js';

const ProjectParams = Type.Object({ project: ResourceName });

export const appKeyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/projects/:project/app-keys',
    {
      schema: {
        tags: ['app keys'],
        summary: 'Issue an app key: the public identifier an app ships with.',
        security: adminSecurity,
        params: ProjectParams,
        body: optionalBody(CreateAppKeyBody),
        response: { 201: AppKey, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'admin');
      const key = await app.db.prisma.$transaction(async (tx) => {
        const created = await tx.appKey.create({
          data: { id: newId('ak'), projectId: project.id, key: newAppKey(), name: request.body?.name ?? 'app key' },
        });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'app_key.create',
          target: created.id,
          details: { name: created.name },
          requestId: request.id,
        });
        return created;
      });
      return reply.status(201).send(appKeyDto(key));
    },
  );

  app.get(
    '/v1/projects/:project/app-keys',
    {
      schema: {
        tags: ['app keys'],
        security: adminSecurity,
        params: ProjectParams,
        response: { 200: Type.Object({ appKeys: Type.Array(AppKey) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const keys = await app.db.prisma.appKey.findMany({ where: { projectId: project.id }, orderBy: { createdAt: 'asc' } });
      return { appKeys: keys.map(appKeyDto) };
    },
  );

  app.delete(
    '/v1/projects/:project/app-keys/:id',
    {
      schema: {
        tags: ['app keys'],
        summary: 'Revoke an app key: devices using it are refused from then on.',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName, id: Type.String({ maxLength: 100 }) }),
        response: { 200: AppKey, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'admin');
      const key = await app.db.prisma.$transaction(async (tx) => {
        const found = await tx.appKey.findFirst({ where: { id: request.params.id, projectId: project.id } });
        if (!found) throw new FerryError('app_key_not_found', `no app key ${request.params.id} in this project`);
        if (found.revokedAt) return found;
        const revoked = await tx.appKey.update({ where: { id: found.id }, data: { revokedAt: new Date() } });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'app_key.revoke',
          target: found.id,
          requestId: request.id,
        });
        return revoked;
      });
      app.appKeys.invalidate(key.key);
      return appKeyDto(key);
    },
  );
};
