import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, ResourceName } from '@ferry/protocol';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { FerryError } from '../../errors.js';
import type { Job as JobRow, Model, Version } from '../../generated/prisma/client.js';
import { adminSecurity, projectAccess } from '../admin-access.js';

const Job = Type.Object({
  id: Type.String(),
  type: Type.String(),
  model: Type.String(),
  version: Type.Integer(),
  variant: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  progress: Type.Number(),
  stage: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

function jobDto(j: JobRow & { version: Version & { model: Model } }) {
  return {
    id: j.id,
    type: j.type,
    model: j.version.model.name,
    version: j.version.number,
    variant: j.variantKind,
    status: j.status,
    progress: j.progress,
    stage: j.stage,
    attempts: j.attempts,
    error: j.error,
    createdAt: j.createdAt.toISOString(),
    startedAt: j.startedAt?.toISOString() ?? null,
    finishedAt: j.finishedAt?.toISOString() ?? null,
  };
}

export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/projects/:project/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Background jobs (variant builds, pre-compression), newest first, with their progress.',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName }),
        querystring: Type.Object({
          status: Type.Optional(Type.Enum(['queued', 'running', 'succeeded', 'failed'])),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
        }),
        response: { 200: Type.Object({ jobs: Type.Array(Job) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const jobs = await app.db.prisma.job.findMany({
        where: { version: { model: { projectId: project.id } }, ...(request.query.status ? { status: request.query.status } : {}) },
        include: { version: { include: { model: true } } },
        orderBy: { createdAt: 'desc' },
        take: request.query.limit,
      });
      return { jobs: jobs.map(jobDto) };
    },
  );

  app.post(
    '/v1/projects/:project/jobs/:id/retry',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Run a failed job again.',
        security: adminSecurity,
        params: Type.Object({ project: ResourceName, id: Type.String({ maxLength: 100 }) }),
        response: { 200: Job, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const job = await app.db.prisma.$transaction(async (tx) => {
        const found = await tx.job.findUnique({ where: { id: request.params.id }, include: { version: { include: { model: true } } } });
        if (!found || found.version.model.projectId !== project.id) throw new FerryError('not_found', `no job ${request.params.id} in this project`);
        if (found.status !== 'failed') throw new FerryError('conflict', `job ${found.id} is ${found.status}; only failed jobs can be retried`);
        const updated = await tx.job.update({
          where: { id: found.id },
          data: { status: 'queued', attempts: 0, progress: 0, stage: null, error: null, runAfter: new Date(), finishedAt: null },
          include: { version: { include: { model: true } } },
        });
        if (found.variantKind) {
          await tx.variant.updateMany({ where: { versionId: found.versionId, kind: found.variantKind }, data: { status: 'pending', reason: null } });
        }
        await recordAudit(tx, { projectId: project.id, actor: actorOf(principal), action: 'job.retry', target: found.id, requestId: request.id });
        return updated;
      });
      app.jobRunner.kick();
      return jobDto(job);
    },
  );
};
