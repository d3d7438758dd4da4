import type { FastifyBaseLogger } from 'fastify';
import type { BlobStore } from '../blob-store/blob-store.js';
import type { PrismaClient } from '../db/database.js';
import type { ServingStateCache } from '../delivery/serving-state.js';
import { Prisma } from '../generated/prisma/client.js';
import { blockDigestsOfStream } from './block-digests.js';

export interface BackfillDeps {
  prisma: PrismaClient;
  blobs: BlobStore;
  serving: ServingStateCache;
  log: FastifyBaseLogger;
}

/**
 * Gives served artifacts stored before manifests carried block digests their digests: reads each
 * one's bytes from the blob store once, stores the digests, then moves the release of every model
 * that serves them so that devices get manifests with the digests (as a new pre-compressed
 * encoding does). Runs in the background at start-up; replicas doing it at once write the same
 * values. Until an artifact has them, its manifests go without and devices hash the whole stream.
 */
export async function backfillBlockDigests(deps: BackfillDeps, signal?: AbortSignal): Promise<{ artifacts: number; models: number }> {
  const { prisma, blobs, serving, log } = deps;
  const pending = await prisma.artifact.findMany({
    where: { blocks: { equals: Prisma.DbNull }, variants: { some: {} } },
    select: { sha256: true, size: true },
  });
  if (pending.length === 0) return { artifacts: 0, models: 0 };
  log.info({ artifacts: pending.length }, 'adding block digests to stored artifacts');
  const done: string[] = [];
  for (const { sha256, size } of pending) {
    if (signal?.aborted) break;
    try {
      const blocks = await blockDigestsOfStream(await blobs.read(sha256), Number(size));
      const updated = await prisma.artifact.updateMany({ where: { sha256, blocks: { equals: Prisma.DbNull } }, data: { blocks } });
      if (updated.count) done.push(sha256);
    } catch (err) {
      // Missing or unreadable bytes: its manifests keep going without digests.
      log.warn({ err, sha256 }, 'could not add block digests to an artifact');
    }
  }
  if (done.length === 0) return { artifacts: 0, models: 0 };
  const models = await prisma.model.findMany({
    where: { versions: { some: { variants: { some: { artifactSha: { in: done } } } } } },
    select: { id: true, projectId: true, name: true },
  });
  for (const m of models) {
    await prisma.model.update({ where: { id: m.id }, data: { release: { increment: 1 } } });
    serving.invalidate(m.projectId, m.name);
  }
  log.info({ artifacts: done.length, models: models.length }, 'added block digests to stored artifacts');
  return { artifacts: done.length, models: models.length };
}
