import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AuditPage, ErrorBody, ResourceName } from '@ferry/protocol';
import { adminSecurity, projectAccess } from '../admin-access.js';

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/projects/:project/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The project’s audit log, newest first.',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName }),
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
          before: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'Cursor from `next`.' })),
        }),
        response: { 200: AuditPage, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'admin');
      const { limit, before } = request.query;
      const rows = await app.db.prisma.auditEvent.findMany({
        where: { projectId: project.id, ...(before ? { id: { lt: BigInt(before) } } : {}) },
        orderBy: { id: 'desc' },
        take: limit + 1,
      });
      const page = rows.slice(0, limit);
      return {
        events: page.map((e) => ({
          id: e.id.toString(),
          actor: e.actor,
          action: e.action,
          target: e.target,
          details: e.details ?? null,
          requestId: e.requestId,
          createdAt: e.createdAt.toISOString(),
        })),
        next: rows.length > limit ? page[page.length - 1]!.id.toString() : null,
      };
    },
  );
};
