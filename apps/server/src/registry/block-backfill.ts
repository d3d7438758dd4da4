import { randomInt } from 'node:crypto';
import { addAbortSignal } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
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
  /** An integer in [0, max): the random order replicas take artifacts in (crypto's randomInt; tests pass their own). */
  randomInt?: (max: number) => number;
}

/** Artifacts that resolve can serve: ready variants of active versions. */
const SERVED: Prisma.ArtifactWhereInput = { variants: { some: { status: 'ready', version: { state: 'active' } } } };

/**
 * Gives served artifacts stored before manifests carried block digests their digests. Each
 * one's bytes are read from the blob store once and must still hash to its SHA-256 (digests of
 * changed bytes are never signed); its digests and a new release of every model serving it are
 * written in one transaction, so that devices get manifests with them (as a new pre-compressed
 * encoding does) and a crash leaves nothing half done. Runs in the background at start-up. Replicas
 * starting together share the work: each takes the artifacts in its own random order and skips
 * those another has done meanwhile; two may still read the same bytes at the same moment, and
 * only the first to write moves the releases. Until an artifact has them, its manifests go without
 * and devices hash the whole stream.
 */
export async function backfillBlockDigests(deps: BackfillDeps, signal?: AbortSignal): Promise<{ artifacts: number; models: number }> {
  const { prisma, blobs, serving, log } = deps;
  const listed = await prisma.artifact.findMany({ where: { blocks: { equals: Prisma.DbNull }, ...SERVED }, select: { sha256: true, size: true } });
  const pending = shuffled(listed, deps.randomInt ?? randomInt);
  if (pending.length === 0) return { artifacts: 0, models: 0 };
  log.info({ artifacts: pending.length }, 'adding block digests to stored artifacts');
  let artifacts = 0;
  const models = new Set<string>();
  for (const { sha256, size } of pending) {
    if (signal?.aborted) break;
    try {
      // Another replica may have done it since the list was read.
      if ((await prisma.artifact.count({ where: { sha256, blocks: { equals: Prisma.DbNull } } })) === 0) continue;
      const stream = await blobs.read(sha256);
      const blocks = await blockDigestsOfStream(signal ? addAbortSignal(signal, stream) : stream, Number(size), sha256);
      const done = await prisma.$transaction(async (tx) => {
        const updated = await tx.artifact.updateMany({ where: { sha256, blocks: { equals: Prisma.DbNull } }, data: { blocks } });
        if (updated.count === 0) return null; // Another replica was first.
        const servedBy = await tx.model.findMany({
          where: { versions: { some: { state: 'active', variants: { some: { artifactSha: sha256, status: 'ready' } } } } },
          select: { id: true, projectId: true, name: true },
        });
        for (const m of servedBy) await tx.model.update({ where: { id: m.id }, data: { release: { increment: 1 } } });
        return servedBy;
      });
      if (done !== null) {
        artifacts++;
        for (const m of done) {
          serving.invalidate(m.projectId, m.name);
          models.add(m.id);
        }
      }
    } catch (err) {
      if (signal?.aborted) break;
      // Missing, unreadable or changed bytes: its manifests keep going without digests.
      log.warn({ err, sha256 }, 'could not add block digests to an artifact');
    }
    await nextTurn(); // Resolve requests go first between artifacts.
  }
  log.info({ artifacts, models: models.size }, 'added block digests to stored artifacts');
  return { artifacts, models: models.size };
}

/** `items` in random order (Fisher–Yates). */
function shuffled<T>(items: T[], random: (max: number) => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
