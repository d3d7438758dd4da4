import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { inspectOnnxFile, OnnxFormatError } from '@ferry/compress';
import { MODEL_FORMATS, type ModelFormat, type VariantRequires, type Version as VersionDto } from '@ferry/protocol';
import { recordAudit } from '../audit.js';
import { actorOf, type Principal } from '../auth/principal.js';
import { newId } from '../auth/secrets.js';
import { FerryError } from '../errors.js';
import type { Prisma } from '../generated/prisma/client.js';
import { versionDto } from './serializers.js';
import { declaredSize, spoolUpload, type SpooledUpload } from './upload-spool.js';
import { DEFAULT_VARIANT_KINDS, enqueueVersionJobs } from '../jobs/job-queue.js';
import { modelNotFound } from './model-lookup.js';

/** What the original upload of each format asks of a device until variants say more. */
function originalRequires(format: ModelFormat): VariantRequires {
  switch (format) {
    case 'onnx':
      return { format, backends: ['webgpu', 'webgl', 'wasm', 'cpu'], features: [] };
    case 'tflite':
      return { format, backends: ['tflite', 'nnapi', 'cpu'], features: [] };
    case 'coreml':
      return { format, backends: ['coreml'], features: [] };
    default:
      return { format, backends: [], features: [] };
  }
}

/**
 * Moves spooled bytes into the blob store, or drops them when the same bytes are stored.
 * The artifact row is touched first: a row touched within the GC grace period is never
 * collected, so reusing stored bytes is safe against a concurrent collection.
 */
export async function storeSpooled(app: FastifyInstance, spooled: Pick<SpooledUpload, 'path' | 'sha256' | 'size'>): Promise<void> {
  const touched = await app.db.prisma.artifact.updateMany({ where: { sha256: spooled.sha256 }, data: { lastUsedAt: new Date() } });
  const stored = touched.count > 0 ? await app.blobs.stat(spooled.sha256) : null;
  if (stored?.size === spooled.size) {
    await unlink(spooled.path).catch(() => {});
  } else {
    await app.blobs.putFile(spooled.sha256, spooled.path, spooled.size);
  }
}

export function parseFormat(raw: string | undefined): ModelFormat {
  const format = raw ?? 'onnx';
  if (!(MODEL_FORMATS as readonly string[]).includes(format)) {
    throw new FerryError('invalid_format', `format must be one of ${MODEL_FORMATS.join(', ')}; got "${format}"`);
  }
  return format as ModelFormat;
}

export interface UploadRequest {
  project: { id: string; name: string };
  modelName: string;
  principal: Principal;
  source: Readable;
  format: ModelFormat;
  notes: string | null;
  requestId: string;
}

/**
 * Stores an uploaded model as a new version. The bytes are spooled, hashed and checked first;
 * they enter the blob store before the version row exists, and the version, its original
 * variant and the audit entry are created in one transaction. A failure at any step leaves
 * no version behind, and any stored bytes without a row are collected later.
 */
export async function createVersion(app: FastifyInstance, req: UploadRequest): Promise<VersionDto> {
  const { prisma } = app.db;
  const model = await prisma.model.findUnique({
    where: { projectId_name: { projectId: req.project.id, name: req.modelName } },
  });
  if (!model) throw modelNotFound(req.modelName);

  const spooled = await spoolUpload(req.source, { dir: app.uploadDir, maxBytes: app.config.maxUploadBytes, sizeHint: declaredSize(req.source) });
  let moved = false;
  try {
    if (spooled.size === 0) throw new FerryError('empty_body', 'the upload is empty; send the model bytes as the body');
    let io: Prisma.InputJsonValue | undefined;
    let inspection: Prisma.InputJsonValue | undefined;
    if (req.format === 'onnx') {
      try {
        const info = await inspectOnnxFile(spooled.path);
        if (info.externalData) {
          throw new FerryError('external_data', 'the model keeps weights in external data files; upload a self-contained .onnx');
        }
        io = info.io as unknown as Prisma.InputJsonValue;
        inspection = {
          irVersion: info.irVersion,
          opsets: info.opsets,
          producer: info.producer,
          parameterCount: info.parameterCount,
          parameterBytes: info.parameterBytes,
          operators: info.operators,
        } as unknown as Prisma.InputJsonValue;
      } catch (err: unknown) {
        if (err instanceof OnnxFormatError) {
          throw new FerryError('invalid_onnx', `not a valid ONNX model: ${err.message}. Pass ?format=other for opaque files.`);
        }
        throw err;
      }
    }

    await storeSpooled(app, spooled);
    moved = true;

    const version = await prisma.$transaction(async (tx) => {
      await tx.artifact.upsert({
        where: { sha256: spooled.sha256 },
        create: { sha256: spooled.sha256, size: BigInt(spooled.size), blocks: spooled.blocks },
        update: { lastUsedAt: new Date(), blocks: spooled.blocks },
      });
      const counted = await tx.model.update({ where: { id: model.id }, data: { versionCount: { increment: 1 } } });
      const created = await tx.version.create({
        data: {
          id: newId('ver'),
          modelId: model.id,
          number: counted.versionCount,
          format: req.format,
          artifactSha: spooled.sha256,
          size: BigInt(spooled.size),
          notes: req.notes,
          io,
          inspection,
          createdBy: actorOf(req.principal),
          variants: {
            create: {
              id: newId('var'),
              kind: 'original',
              status: 'ready',
              precision: req.format === 'onnx' ? 'fp32' : 'unknown',
              artifactSha: spooled.sha256,
              size: BigInt(spooled.size),
              requires: originalRequires(req.format) as unknown as Prisma.InputJsonValue,
            },
          },
        },
      });
      const kinds = (model.variantSettings as { kinds?: string[] } | null)?.kinds ?? DEFAULT_VARIANT_KINDS;
      await enqueueVersionJobs(tx, created.id, req.format, kinds);
      await recordAudit(tx, {
        projectId: req.project.id,
        actor: actorOf(req.principal),
        action: 'version.create',
        target: `${model.name}@${created.number}`,
        details: { sha256: spooled.sha256, size: spooled.size, format: req.format },
        requestId: req.requestId,
      });
      return tx.version.findUniqueOrThrow({ where: { id: created.id }, include: { variants: true, jobs: true } });
    });
    app.serving.invalidate(req.project.id, model.name);
    app.jobRunner.kick();
    return versionDto(version, model.name);
  } finally {
    if (!moved) await unlink(spooled.path).catch(() => {});
  }
}
