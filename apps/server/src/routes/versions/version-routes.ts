import type { IncomingMessage } from 'node:http';
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AttachVariantQuery, ErrorBody, ResourceName, UpdateVersionBody, UploadQuery, Variant, Version } from '@ferry/protocol';
import semver from 'semver';
import type { Prisma } from '../../generated/prisma/client.js';
import { attachVariant } from '../../registry/variant-attach.js';
import { recordAudit } from '../../audit.js';
import { actorOf } from '../../auth/principal.js';
import { FerryError } from '../../errors.js';
import { versionDto } from '../../registry/serializers.js';
import { createVersion, parseFormat } from '../../registry/version-upload.js';
import { adminSecurity, projectAccess } from '../admin-access.js';
import { modelNotFound, requireModelVersion, versionNotFound } from '../../registry/model-lookup.js';

const ModelParams = Type.Object({ project: ResourceName, model: ResourceName });
const VersionParams = Type.Object({ project: ResourceName, model: ResourceName, version: Type.Integer({ minimum: 1 }) });

export const versionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Uploads are streamed by the handler, never buffered by a body parser.
  app.addContentTypeParser('application/octet-stream', (_request, payload: IncomingMessage, done) => done(null, payload));

  app.post(
    '/v1/projects/:project/models/:model/versions',
    {
      schema: {
        tags: ['versions'],
        summary: 'Upload a new version: the body is the raw model file (application/octet-stream), streamed.',
        security: adminSecurity,
        params: ModelParams,
        querystring: UploadQuery,
        response: { 201: Version, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const format = parseFormat(request.query.format);
      const type = request.headers['content-type'];
      if (!type || !type.toLowerCase().startsWith('application/octet-stream')) {
        throw new FerryError('unsupported_media_type', 'send the model bytes with Content-Type: application/octet-stream');
      }
      const declared = Number(request.headers['content-length'] ?? NaN);
      if (declared > app.config.maxUploadBytes) {
        reply.header('connection', 'close');
        throw new FerryError('payload_too_large', `the upload exceeds the limit of ${app.config.maxUploadBytes} bytes (FERRY_MAX_UPLOAD_BYTES)`);
      }
      const source = request.body as IncomingMessage | undefined;
      if (!source || declared === 0) throw new FerryError('empty_body', 'the upload is empty; send the model bytes as the body');
      try {
        const version = await createVersion(app, {
          project,
          modelName: request.params.model,
          principal,
          source,
          format,
          notes: request.query.notes ?? null,
          requestId: request.id,
        });
        return reply.status(201).send(version);
      } catch (err) {
        // The rest of a refused body is not worth reading.
        if (!source.readableEnded) reply.header('connection', 'close');
        throw err;
      }
    },
  );

  app.get(
    '/v1/projects/:project/models/:model/versions',
    {
      schema: {
        tags: ['versions'],
        summary: 'Versions of a model, newest first, with their variants.',
        security: adminSecurity,
        params: ModelParams,
        response: { 200: Type.Object({ versions: Type.Array(Version) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const model = await app.db.prisma.model.findUnique({
        where: { projectId_name: { projectId: project.id, name: request.params.model } },
        include: { versions: { include: { variants: true, jobs: true }, orderBy: { number: 'desc' } } },
      });
      if (!model) throw modelNotFound(request.params.model);
      return { versions: model.versions.map((v) => versionDto(v, model.name)) };
    },
  );

  app.get(
    '/v1/projects/:project/models/:model/versions/:version',
    {
      schema: {
        tags: ['versions'],
        security: adminSecurity,
        params: VersionParams,
        response: { 200: Version, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { project } = await projectAccess(app, request, request.params.project, 'viewer');
      const model = await app.db.prisma.model.findUnique({
        where: { projectId_name: { projectId: project.id, name: request.params.model } },
        include: { versions: { where: { number: request.params.version }, include: { variants: true, jobs: true } } },
      });
      if (!model) throw modelNotFound(request.params.model);
      const version = model.versions[0];
      if (!version) throw versionNotFound(model.name, request.params.version);
      return versionDto(version, model.name);
    },
  );

  app.delete(
    '/v1/projects/:project/models/:model/versions/:version',
    {
      schema: {
        tags: ['versions'],
        summary: 'Archive a version. Refused while it is served.',
        security: adminSecurity,
        params: VersionParams,
        response: { 200: Version, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const archived = await app.db.prisma.$transaction(async (tx) => {
        const model = await tx.model.findUnique({
          where: { projectId_name: { projectId: project.id, name: request.params.model } },
        });
        if (!model) throw modelNotFound(request.params.model);
        const version = await tx.version.findUnique({
          where: { modelId_number: { modelId: model.id, number: request.params.version } },
          include: { variants: true },
        });
        if (!version) throw versionNotFound(model.name, request.params.version);
        if (version.state === 'archived') return { model, version };
        // Held against rollout changes (created, completed, rolled back) until this commits.
        await tx.$queryRaw`SELECT "id" FROM "Model" WHERE "id" = ${model.id} FOR UPDATE`;
        const current = await tx.model.findUniqueOrThrow({ where: { id: model.id } });
        if (current.stableVersion === version.number) {
          throw new FerryError('version_served', `version ${version.number} is the stable version of "${model.name}"; roll out another first`);
        }
        const live = await tx.rollout.findFirst({ where: { modelId: model.id, version: version.number, status: { in: ['active', 'paused'] } } });
        if (live) {
          throw new FerryError('version_served', `version ${version.number} of "${model.name}" is being rolled out (${live.id}); roll it back or cancel it first`);
        }
        const updated = await tx.version.update({
          where: { id: version.id },
          data: { state: 'archived', archivedAt: new Date() },
          include: { variants: true },
        });
        // An archived version is no longer a fallback for devices that cannot take the stable one.
        await tx.model.update({ where: { id: model.id }, data: { release: { increment: 1 } } });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'version.archive',
          target: `${model.name}@${version.number}`,
          requestId: request.id,
        });
        return { model, version: updated };
      });
      app.serving.invalidate(project.id, archived.model.name);
      return versionDto(archived.version, archived.model.name);
    },
  );

  app.patch(
    '/v1/projects/:project/models/:model/versions/:version',
    {
      schema: {
        tags: ['versions'],
        summary: 'Change a version’s notes or its compatibility (what a device needs to receive it).',
        security: adminSecurity,
        params: VersionParams,
        body: UpdateVersionBody,
        response: { 200: Version, '4xx': ErrorBody },
      },
    },
    async (request) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const { compatibility, notes } = request.body;
      for (const [field, range] of [
        ['compatibility.sdk', compatibility?.sdk],
        ['compatibility.appVersion', compatibility?.appVersion],
        ['compatibility.runtime.range', compatibility?.runtime?.range],
      ] as const) {
        if (range !== undefined && semver.validRange(range) === null) {
          throw new FerryError('validation_failed', `${field} "${range}" is not a semver range`, { field: `body.${field}` });
        }
      }
      const updated = await app.db.prisma.$transaction(async (tx) => {
        const { model, version } = await requireModelVersion(tx, project.id, request.params.model, request.params.version);
        const changed = await tx.version.update({
          where: { id: version.id },
          data: {
            ...(notes !== undefined ? { notes } : {}),
            ...(compatibility !== undefined ? { compatibility: (compatibility ?? null) as Prisma.InputJsonValue } : {}),
          },
          include: { variants: true },
        });
        // What devices get may change with compatibility: a new release number makes them ask again.
        if (compatibility !== undefined) await tx.model.update({ where: { id: model.id }, data: { release: { increment: 1 } } });
        await recordAudit(tx, {
          projectId: project.id,
          actor: actorOf(principal),
          action: 'version.update',
          target: `${model.name}@${version.number}`,
          details: request.body as Prisma.InputJsonValue,
          requestId: request.id,
        });
        return { model, version: changed };
      });
      app.serving.invalidate(project.id, updated.model.name);
      return versionDto(updated.version, updated.model.name);
    },
  );

  app.post(
    '/v1/projects/:project/models/:model/versions/:version/variants',
    {
      schema: {
        tags: ['versions'],
        summary: 'Attach a variant built elsewhere (body: its raw bytes), e.g. a .tflite for Android. Served as uploaded.',
        security: adminSecurity,
        params: VersionParams,
        querystring: AttachVariantQuery,
        response: { 201: Variant, '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { principal, project } = await projectAccess(app, request, request.params.project, 'publisher');
      const type = request.headers['content-type'];
      if (!type || !type.toLowerCase().startsWith('application/octet-stream')) {
        throw new FerryError('unsupported_media_type', 'send the variant bytes with Content-Type: application/octet-stream');
      }
      const source = request.body as IncomingMessage | undefined;
      if (!source) throw new FerryError('empty_body', 'the upload is empty; send the variant bytes as the body');
      const variant = await attachVariant(app, {
        project,
        modelName: request.params.model,
        version: request.params.version,
        principal,
        source,
        query: request.query,
        requestId: request.id,
      });
      return reply.status(201).send(variant);
    },
  );
};
