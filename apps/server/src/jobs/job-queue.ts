import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Prisma } from '../generated/prisma/client.js';
import type { PrismaClient } from '../db/database.js';
import { newId } from '../auth/secrets.js';

type Tx = Prisma.TransactionClient;

/** Variants built for every ONNX upload unless the model says otherwise. */
export const DEFAULT_VARIANT_KINDS = ['fp16', 'int8', 'pruned-50'];

export interface ClaimedJob {
  id: string;
  type: 'variant' | 'encode';
  versionId: string;
  variantKind: string | null;
  attempts: number;
  maxAttempts: number;
}

/**
 * Queues the background work for a new version, inside the caller's transaction: the
 * pre-compressed copies of the original, and (for ONNX) one job per derived variant, each
 * with a `pending` variant row so the API shows it at once.
 */
export async function enqueueVersionJobs(tx: Tx, versionId: string, format: string, kinds: string[]): Promise<void> {
  const jobs: Prisma.JobCreateManyInput[] = [{ id: newId('job'), type: 'encode', versionId }];
  if (format === 'onnx') {
    for (const kind of kinds) {
      jobs.push({ id: newId('job'), type: 'variant', versionId, variantKind: kind });
      await tx.variant.create({
        data: { id: newId('var'), versionId, kind, status: 'pending', requires: { format: 'onnx', backends: [], features: [] } },
      });
    }
  }
  await tx.job.createMany({ data: jobs });
}

/** Jobs in the database, claimed with `FOR UPDATE SKIP LOCKED` and held with a renewable lease. */
export class JobQueue {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  constructor(
    private readonly prisma: PrismaClient,
    readonly leaseMs: number,
  ) {}

  /**
   * Claims the oldest runnable job: queued and due, or running with an expired lease (its
   * server died). Exactly one server gets each job.
   */
  async claim(now = new Date()): Promise<ClaimedJob | null> {
    const until = new Date(now.getTime() + this.leaseMs);
    // Jobs whose lease expired too often are given up rather than retried forever.
    await this.prisma.$executeRaw`
      UPDATE "Job" SET "status" = 'failed', "error" = COALESCE("error", 'the server running it stopped too many times'),
        "finishedAt" = ${now}, "updatedAt" = ${now}
      WHERE "status" = 'running' AND "lockedUntil" < ${now} AND "attempts" >= "maxAttempts"`;
    const rows = await this.prisma.$queryRaw<ClaimedJob[]>`
      UPDATE "Job" SET "status" = 'running', "lockedBy" = ${this.workerId}, "lockedUntil" = ${until},
        "attempts" = "attempts" + 1, "startedAt" = COALESCE("startedAt", ${now}), "updatedAt" = ${now}
      WHERE "id" = (
        SELECT "id" FROM "Job"
        WHERE ("status" = 'queued' AND "runAfter" <= ${now}) OR ("status" = 'running' AND "lockedUntil" < ${now})
        ORDER BY "createdAt" LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING "id", "type", "versionId", "variantKind", "attempts", "maxAttempts"`;
    return rows[0] ?? null;
  }

  /** Reports progress and renews the lease; false when the job is no longer ours. */
  async heartbeat(id: string, progress: number, stage: string): Promise<boolean> {
    const res = await this.prisma.job.updateMany({
      where: { id, lockedBy: this.workerId, status: 'running' },
      data: { progress, stage, lockedUntil: new Date(Date.now() + this.leaseMs) },
    });
    return res.count === 1;
  }

  /** Puts a failed attempt back in the queue with a backoff, or fails the job for good. */
  async fail(job: ClaimedJob, message: string, retryable: boolean): Promise<'retry' | 'failed'> {
    const final = !retryable || job.attempts >= job.maxAttempts;
    const backoffMs = Math.min(60_000 * 2 ** (job.attempts - 1), 30 * 60_000);
    await this.prisma.job.updateMany({
      where: { id: job.id, lockedBy: this.workerId },
      data: final
        ? { status: 'failed', error: message, finishedAt: new Date(), lockedBy: null, lockedUntil: null }
        : { status: 'queued', error: message, runAfter: new Date(Date.now() + backoffMs), lockedBy: null, lockedUntil: null },
    });
    return final ? 'failed' : 'retry';
  }
}
