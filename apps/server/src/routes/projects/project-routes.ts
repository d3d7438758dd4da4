import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CreateProjectBody, ErrorBody, Project } from '@ferry/protocol';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { newAppKey, newId } from '../../auth/secrets.js';
import { FerryError, isUniqueViolation } from '../../errors.js';
import { projectDto } from '../../registry/serializers.js';
import { adminSecurity } from '../admin-access.js';

export const projectRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/projects',
    {
      schema: {
        tags: ['projects'],
        summary: 'Create a project (bootstrap admin token only). It starts with one app key.',
        security: adminSecurity,
        body: CreateProjectBody,
        response: { 201: Project, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = await app.adminAuth.authenticate(request);
      if (principal.projectId !== null) {
        throw new FerryError('forbidden', 'only the bootstrap admin token can create projects');
      }
      try {
        const project = await app.db.prisma.$transaction(async (tx) => {
          const created = await tx.project.create({ data: { id: newId('prj'), name: request.body.name } });
          await tx.appKey.create({ data: { id: newId('ak'), projectId: created.id, key: newAppKey(), name: 'default' } });
          await recordAudit(tx, {
            projectId: created.id,
            actor: actorOf(principal),
            action: 'project.create',
            target: created.name,
            requestId: request.id,
          });
          return created;
        });
        return reply.status(201).send(projectDto(project));
      } catch (err) {
        if (isUniqueViolation(err)) throw new FerryError('project_exists', `project "${request.body.name}" already exists`);
        throw err;
      }
    },
  );

  app.get(
    '/v1/projects',
    {
      schema: {
        tags: ['projects'],
        summary: 'Projects this token can see.',
        security: adminSecurity,
        response: { 200: Type.Object({ projects: Type.Array(Project) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const principal = await app.adminAuth.authenticate(request);
      const projects = await app.db.prisma.project.findMany({
        where: principal.projectId ? { id: principal.projectId } : {},
        orderBy: { name: 'asc' },
      });
      return { projects: projects.map(projectDto) };
    },
  );
};
