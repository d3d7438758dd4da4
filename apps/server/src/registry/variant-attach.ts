import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { BLOCK_DIGESTS_FEATURE, type AttachVariantQuery, type Variant as VariantDto } from '@ferry/protocol';
import { recordAudit } from '../audit.js';
import { actorOf, type Principal } from '../auth/principal.js';
import { newId } from '../auth/secrets.js';
import { FerryError, isUniqueViolation } from '../errors.js';
import type { Prisma } from '../generated/prisma/client.js';
import { variantDto } from './serializers.js';
import { declaredSize, spoolUpload } from './upload-spool.js';
import { storeSpooled } from './version-upload.js';
import { requireModelVersion } from './model-lookup.js';

const list = (csv: string | undefined) =>
  (csv ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * Attaches a variant the admin built elsewhere (a .tflite for Android, an .mlmodel for iOS, …)
 * to a version. It is served as it is: Ferry cannot run these formats to check accuracy.
 */
export async function attachVariant(
  app: FastifyInstance,
  req: { project: { id: string }; modelName: string; version: number; principal: Principal; source: Readable; query: AttachVariantQuery; requestId: string },
): Promise<VariantDto> {
  const { prisma } = app.db;
  const { query } = req;
  if (['original', 'fp16', 'int8'].includes(query.kind) || query.kind.startsWith('pruned-')) {
    throw new FerryError('validation_failed', `kind "${query.kind}" is reserved for variants Ferry builds; name yours e.g. "tflite-int8"`);
  }
  const backends = list(query.backends);
  if (backends.length === 0) throw new FerryError('validation_failed', 'backends must name at least one backend');
  if (list(query.features).includes(BLOCK_DIGESTS_FEATURE)) {
    throw new FerryError('validation_failed', `"${BLOCK_DIGESTS_FEATURE}" says what an SDK checks, not what a device runs: a variant cannot require it`);
  }
  const { model, version } = await requireModelVersion(prisma, req.project.id, req.modelName, req.version);

  const spooled = await spoolUpload(req.source, { dir: app.uploadDir, maxBytes: app.config.maxUploadBytes, sizeHint: declaredSize(req.source) });
  let moved = false;
  try {
    if (spooled.size === 0) throw new FerryError('empty_body', 'the upload is empty; send the variant bytes as the body');
    await storeSpooled(app, spooled);
    moved = true;
    const requires = {
      format: query.format,
      backends,
      features: list(query.features),
      ...(query.minMemoryMB !== undefined ? { minMemoryMB: query.minMemoryMB } : {}),
      ...(query.platforms ? { platforms: list(query.platforms) } : {}),
    };
    const variant = await prisma.$transaction(async (tx) => {
      await tx.artifact.upsert({
        where: { sha256: spooled.sha256 },
        create: { sha256: spooled.sha256, size: BigInt(spooled.size), blocks: spooled.blocks },
        update: { lastUsedAt: new Date(), blocks: spooled.blocks },
      });
      const created = await tx.variant.create({
        data: {
          id: newId('var'),
          versionId: version.id,
          kind: query.kind,
          status: 'ready',
          precision: query.precision ?? 'unknown',
          artifactSha: spooled.sha256,
          size: BigInt(spooled.size),
          requires: requires as unknown as Prisma.InputJsonValue,
        },
      });
      await tx.model.update({ where: { id: model.id }, data: { release: { increment: 1 } } });
      await recordAudit(tx, {
        projectId: req.project.id,
        actor: actorOf(req.principal),
        action: 'variant.attach',
        target: `${model.name}@${version.number}/${query.kind}`,
        details: { sha256: spooled.sha256, size: spooled.size, requires } as unknown as Prisma.InputJsonValue,
        requestId: req.requestId,
      });
      return created;
    });
    app.serving.invalidate(req.project.id, model.name);
    return variantDto(variant);
  } catch (err) {
    if (isUniqueViolation(err)) throw new FerryError('conflict', `version ${req.version} already has a variant "${query.kind}"`);
    throw err;
  } finally {
    if (!moved) await unlink(spooled.path).catch(() => {});
  }
}
