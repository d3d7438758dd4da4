import type { FastifyBaseLogger } from 'fastify';
import type { AccuracyTolerance } from '@ferry/compress';
import type { Encoding } from '@ferry/protocol';
import { recordAudit } from '../audit.js';
import type { BlobStore } from '../blob-store/blob-store.js';
import type { PrismaClient } from '../db/database.js';
import type { ServingStateCache } from '../delivery/serving-state.js';
import type { Prisma } from '../generated/prisma/client.js';
import { spoolBytes } from '../registry/upload-spool.js';
import type { ClaimedJob, JobQueue } from './job-queue.js';
import { runInWorker, WorkerTaskError } from './run-in-worker.js';

/** Models larger than this are not compressed: the build holds a few copies in memory. */
export const MAX_VARIANT_SOURCE_BYTES = 512 * 1024 * 1024;
// An encoding must save at least this share of the bytes to be worth storing and serving.
const MIN_ENCODING_SAVING = 0.03;
// Errors of the model itself: retrying cannot help.
const PERMANENT_CODES = new Set(['invalid_onnx', 'unsupported_model', 'external_data', 'invalid_variant_kind', 'invalid_evaluation_set', 'too_large']);

export interface JobRunnerDeps {
  prisma: PrismaClient;
  blobs: BlobStore;
  queue: JobQueue;
  serving: ServingStateCache;
  log: FastifyBaseLogger;
  uploadDir: string;
  /** Stores spooled bytes in the blob store (shared with uploads). */
  store: (spooled: { path: string; sha256: string; size: number }) => Promise<void>;
}

const PRECISION: Record<string, string> = { fp16: 'fp16', int8: 'int8' };

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Runs queued jobs off the request path: each in a worker thread, `concurrency` at a time,
 * with progress and lease renewal written back while it runs.
 */
export class JobRunner {
  private timer: NodeJS.Timeout | null = null;
  private readonly active = new Set<Promise<void>>();
  private stopping = false;

  constructor(
    private readonly deps: JobRunnerDeps,
    private readonly options: { concurrency: number; pollMs: number },
  ) {}

  start(): void {
    if (this.options.concurrency <= 0) return;
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for work now (after an upload queued some): one claim per free slot. */
  kick(): void {
    if (this.stopping || !this.timer) return;
    while (this.active.size < this.options.concurrency) {
      const run = this.runOnce()
        .then((ran) => {
          if (ran) queueMicrotask(() => this.kick());
        })
        .catch((err) => this.deps.log.error({ err }, 'job runner failed'))
        .finally(() => this.active.delete(run));
      this.active.add(run as Promise<void>);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.active]);
  }

  /** Claims and runs one job; false when there was none. */
  async runOnce(): Promise<boolean> {
    const job = await this.deps.queue.claim();
    if (!job) return false;
    const { log } = this.deps;
    log.info({ job: job.id, type: job.type, kind: job.variantKind, attempt: job.attempts }, 'job started');
    try {
      await this.execute(job);
      log.info({ job: job.id }, 'job finished');
    } catch (err) {
      const permanent = err instanceof WorkerTaskError && PERMANENT_CODES.has(err.code);
      const message = (err as Error).message;
      const outcome = await this.deps.queue.fail(job, message, !permanent);
      log.warn({ job: job.id, err: message, outcome }, 'job failed');
      if (job.type === 'variant' && job.variantKind) {
        await this.deps.prisma.variant.updateMany({
          where: { versionId: job.versionId, kind: job.variantKind },
          data: outcome === 'failed' ? { status: 'failed', reason: message } : { status: 'pending', reason: `attempt ${job.attempts} failed: ${message}` },
        });
      }
    }
    return true;
  }

  private async execute(job: ClaimedJob): Promise<void> {
    const { prisma, blobs, queue } = this.deps;
    const version = await prisma.version.findUnique({ where: { id: job.versionId }, include: { model: true } });
    if (!version) throw new WorkerTaskError('not_found', 'the version was deleted');
    const size = Number(version.size);
    if (job.type === 'variant' && size > MAX_VARIANT_SOURCE_BYTES) {
      throw new WorkerTaskError('too_large', `models over ${MAX_VARIANT_SOURCE_BYTES / 2 ** 20} MiB are not compressed`);
    }
    let lastBeat = 0;
    const progress = (fraction: number, stage: string) => {
      const now = Date.now();
      if (now - lastBeat < 500 && fraction < 1) return;
      lastBeat = now;
      void queue.heartbeat(job.id, fraction, stage).catch(() => {});
    };
    await queue.heartbeat(job.id, 0, 'read');
    const bytes = new Uint8Array(await readAll(await blobs.read(version.artifactSha)));

    if (job.type === 'encode') {
      const { encodings } = await runInWorker<'encoded'>({ type: 'encode', bytes }, progress);
      const worth = encodings.filter((e) => e.size < size * (1 - MIN_ENCODING_SAVING));
      const stored = await this.storeEncodings(worth);
      await prisma.$transaction(async (tx) => {
        await this.linkEncodings(tx, version.artifactSha, stored);
        const list: Encoding[] = stored.map((e) => ({ encoding: e.encoding, size: e.size }));
        await tx.variant.updateMany({ where: { versionId: version.id, kind: 'original' }, data: { encodings: list as unknown as Prisma.InputJsonValue } });
        await this.finish(tx, job.id);
        if (list.length) await tx.model.update({ where: { id: version.modelId }, data: { release: { increment: 1 } } });
      });
    } else {
      const kind = job.variantKind!;
      await prisma.variant.updateMany({ where: { versionId: version.id, kind }, data: { status: 'building' } });
      const settings = version.model.variantSettings as { tolerance?: Record<string, Partial<AccuracyTolerance>> } | null;
      const family = kind.startsWith('pruned') ? 'pruned' : kind;
      const tolerance = settings?.tolerance?.[kind] ?? settings?.tolerance?.[family];
      const { result } = await runInWorker<'variant'>({ type: 'variant', kind, bytes, options: tolerance ? { tolerance } : {} }, progress);
      const spooled = await spoolBytes(result.bytes, this.deps.uploadDir, { blocks: true });
      const { blocks } = spooled;
      await this.deps.store(spooled);
      const stored = result.status === 'ready' ? await this.storeEncodings(result.encodings) : [];
      await prisma.$transaction(async (tx) => {
        await tx.artifact.upsert({
          where: { sha256: result.sha256 },
          create: { sha256: result.sha256, size: BigInt(result.size), blocks },
          update: { lastUsedAt: new Date(), blocks },
        });
        await this.linkEncodings(tx, result.sha256, stored);
        await tx.variant.updateMany({
          where: { versionId: version.id, kind },
          data: {
            status: result.status,
            artifactSha: result.sha256,
            size: BigInt(result.size),
            precision: PRECISION[family] ?? 'fp32',
            encodings: stored.map((e) => ({ encoding: e.encoding, size: e.size })) as unknown as Prisma.InputJsonValue,
            requires: result.requires as unknown as Prisma.InputJsonValue,
            accuracy: { ...result.accuracy, tolerance: result.tolerance, buildMs: result.buildMs } as unknown as Prisma.InputJsonValue,
            reason: result.reason ?? null,
          },
        });
        await this.finish(tx, job.id);
        if (result.status === 'ready') await tx.model.update({ where: { id: version.modelId }, data: { release: { increment: 1 } } });
        await recordAudit(tx, {
          projectId: version.model.projectId,
          actor: 'system',
          action: result.status === 'ready' ? 'variant.ready' : 'variant.rejected',
          target: `${version.model.name}@${version.number}/${kind}`,
          details: { size: result.size, accuracy: result.accuracy, reason: result.reason ?? null } as unknown as Prisma.InputJsonValue,
        });
      });
    }
    this.deps.serving.invalidate(version.model.projectId, version.model.name);
  }

  private async storeEncodings(encodings: { encoding: Encoding['encoding']; bytes: Uint8Array; size: number }[]) {
    const out: { encoding: Encoding['encoding']; sha256: string; size: number }[] = [];
    for (const e of encodings) {
      const spooled = await spoolBytes(e.bytes, this.deps.uploadDir);
      await this.deps.store(spooled);
      out.push({ encoding: e.encoding, sha256: spooled.sha256, size: e.size });
    }
    return out;
  }

  private async linkEncodings(tx: Prisma.TransactionClient, artifactSha: string, stored: { encoding: string; sha256: string; size: number }[]) {
    for (const e of stored) {
      await tx.artifact.upsert({
        where: { sha256: e.sha256 },
        create: { sha256: e.sha256, size: BigInt(e.size) },
        update: { lastUsedAt: new Date() },
      });
      await tx.artifactEncoding.upsert({
        where: { artifactSha_encoding: { artifactSha, encoding: e.encoding } },
        create: { artifactSha, encoding: e.encoding, blobSha: e.sha256, size: BigInt(e.size) },
        update: { blobSha: e.sha256, size: BigInt(e.size) },
      });
    }
  }

  private async finish(tx: Prisma.TransactionClient, id: string) {
    await tx.job.update({
      where: { id },
      data: { status: 'succeeded', progress: 1, stage: 'done', finishedAt: new Date(), lockedBy: null, lockedUntil: null, error: null },
    });
  }
}
