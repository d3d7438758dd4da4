import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AdminToken, CreateAdminTokenBody, ErrorBody, IssuedAdminToken, ResourceName } from '@ferry/protocol';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { newAdminSecret, newId, sha256Hex } from '../../auth/secrets.js';
import { FerryError } from '../../errors.js';
import { adminTokenDto } from '../../registry/serializers.js';
import { adminSecurity, projectAccess } from '../admin-access.js';

const ProjectParams = Type.Object({ project: ResourceName });

export const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/projects/:project/tokens',
    {
      schema: {
        tags: ['admin tokens'],
        summary: 'Issue an admin token scoped to this project. The secret is shown in this answer only.',
        security: adminSecurity,
        params: ProjectParams,
        body: CreateAdminTokenBody,
        response: { 201: IssuedAdminToken, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'admin');
      const secret = newAdminSecret();
      const token = await app.db.prisma.$transaction(async (tx) => {
        const created = await tx.adminToken.create({
          data: {
            id: newId('tok'),
            projectId: project.id,
            name: request.body.name,
            role: request.body.role,
            secretHash: sha256Hex(secret),
            prefix: secret.slice(0, 12),
            createdBy: actorOf(principal),
          },
        });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'token.create',
          target: created.id,
          details: { name: created.name, role: created.role },
          requestId: request.id,
        });
        return created;
      });
      return reply.status(201).send({ ...adminTokenDto(token, project.name), secret });
    },
  );

  app.get(
    '/v1/projects/:project/tokens',
    {
      schema: {
        tags: ['admin tokens'],
        security: adminSecurity,
        params: ProjectParams,
        response: { 200: Type.Object({ tokens: Type.Array(AdminToken) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'admin');
      const tokens = await app.db.prisma.adminToken.findMany({ where: { projectId: project.id }, orderBy: { createdAt: 'asc' } });
      return { tokens: tokens.map((t) => adminTokenDto(t, project.name)) };
    },
  );

  app.delete(
    '/v1/projects/:project/tokens/:id',
    {
      schema: {
        tags: ['admin tokens'],
        summary: 'Revoke an admin token; it is refused from the next request on.',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName, id: Type.String({ maxLength: 100 }) }),
        response: { 200: AdminToken, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'admin');
      const token = await app.db.prisma.$transaction(async (tx) => {
        const found = await tx.adminToken.findFirst({ where: { id: request.params.id, projectId: project.id } });
        if (!found) throw new FerryError('token_not_found', `no admin token ${request.params.id} in this project`);
        if (found.revokedAt) return found;
        const revoked = await tx.adminToken.update({ where: { id: found.id }, data: { revokedAt: new Date() } });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'token.revoke',
          target: found.id,
          requestId: request.id,
        });
        return revoked;
      });
      return adminTokenDto(token, project.name);
    },
  );
};
