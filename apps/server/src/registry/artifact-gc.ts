import type { FastifyBaseLogger } from 'fastify';
import type { BlobStore } from '../blob-store/blob-store.js';
import type { PrismaClient } from '../db/database.js';

export interface CollectionResult {
  /** Artifacts no version or variant referred to, removed with their bytes. */
  artifacts: string[];
  /** Stored bytes with no artifact row (left by an interrupted upload), removed. */
  orphans: string[];
}

/** How long fresh bytes are safe from collection: longer than any upload takes to commit. */
export const DEFAULT_GRACE_MS = 60 * 60 * 1000;
const INTERVAL_MS = 60 * 60 * 1000;

/**
 * Garbage-collects unreferenced artifacts. Each artifact is removed under a row lock that
 * uploads also need to reuse it, so an upload either sees it gone and stores the bytes
 * again, or refreshes it first and keeps it.
 */
export class ArtifactCollector {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CollectionResult> | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly blobs: BlobStore,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.collect().catch((err) => this.log.error({ err }, 'artifact garbage collection failed'));
    }, INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Runs one collection; concurrent calls share it. */
  collect(graceMs = DEFAULT_GRACE_MS): Promise<CollectionResult> {
    this.running ??= this.collectOnce(graceMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async collectOnce(graceMs: number): Promise<CollectionResult> {
    const cutoff = new Date(Date.now() - graceMs);
    const result: CollectionResult = { artifacts: [], orphans: [] };
    const candidates = await this.prisma.artifact.findMany({
      where: { versions: { none: {} }, variants: { none: {} }, encodingOf: { none: {} }, lastUsedAt: { lt: cutoff } },
      select: { sha256: true },
    });
    for (const { sha256 } of candidates) {
      const removed = await this.prisma.$transaction(async (tx) => {
        const locked = await tx.$queryRaw<{ sha256: string }[]>`
          SELECT a."sha256" FROM "Artifact" a
          WHERE a."sha256" = ${sha256} AND a."lastUsedAt" < ${cutoff}
            AND NOT EXISTS (SELECT 1 FROM "Version" v WHERE v."artifactSha" = a."sha256")
            AND NOT EXISTS (SELECT 1 FROM "Variant" x WHERE x."artifactSha" = a."sha256")
            AND NOT EXISTS (SELECT 1 FROM "ArtifactEncoding" e WHERE e."blobSha" = a."sha256")
          FOR UPDATE`;
        if (locked.length === 0) return false;
        await this.blobs.delete(sha256);
        await tx.artifact.delete({ where: { sha256 } });
        return true;
      });
      if (removed) result.artifacts.push(sha256);
    }
    for await (const blob of this.blobs.list()) {
      if (blob.lastModified >= cutoff) continue;
      const row = await this.prisma.artifact.findUnique({ where: { sha256: blob.sha256 }, select: { sha256: true } });
      if (row) continue;
      await this.blobs.delete(blob.sha256);
      result.orphans.push(blob.sha256);
    }
    if (result.artifacts.length || result.orphans.length) {
      this.log.info({ artifacts: result.artifacts.length, orphans: result.orphans.length }, 'collected unreferenced artifacts');
    }
    return result;
  }
}
