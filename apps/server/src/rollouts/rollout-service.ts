import type { FastifyBaseLogger } from 'fastify';
import type {
  CreateRolloutBody,
  Guardrails,
  Rollout as RolloutDto,
  RolloutEvent,
  RolloutSchedule,
  RolloutStatus,
  Targeting,
} from '@ferry/protocol';
import { recordAudit } from '../audit.js';
import { newId } from '../auth/secrets.js';
import type { PrismaClient } from '../db/database.js';
import { audiencesOverlap, targetingProblem } from '../delivery/targeting.js';
import type { ServingStateCache } from '../delivery/serving-state.js';
import { FerryError } from '../errors.js';
import type { Prisma, Rollout } from '../generated/prisma/client.js';
import { modelNotFound, versionNotFound } from '../registry/model-lookup.js';

export type RolloutAction = 'advance' | 'pause' | 'resume' | 'rollback' | 'cancel';
type Tx = Prisma.TransactionClient;

const LIVE: RolloutStatus[] = ['active', 'paused'];
const SCHEDULER_TICK_MS = 10_000;

export interface Actor {
  /** As the audit log names it: `bootstrap`, `token:<id>`, `scheduler`, `guardrail`. */
  name: string;
  requestId?: string;
}

export function rolloutDto(r: Rollout, modelName: string): RolloutDto {
  const stages = r.stages as number[];
  return {
    id: r.id,
    model: modelName,
    version: r.version,
    status: r.status as RolloutStatus,
    stages,
    stage: r.stageIndex,
    percent: r.status === 'completed' ? 100 : (stages[r.stageIndex] ?? 100),
    targeting: r.targeting as Targeting,
    guardrails: r.guardrails as Guardrails,
    schedule: (r.schedule as RolloutSchedule | null) ?? null,
    nextAdvanceAt: r.nextAdvanceAt?.toISOString() ?? null,
    previousStableVersion: r.previousStableVersion,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    events: r.events as RolloutEvent[],
  };
}

function nextAdvance(schedule: RolloutSchedule | null | undefined, from = Date.now()): Date | null {
  return schedule ? new Date(from + schedule.intervalMinutes * 60_000) : null;
}

/**
 * Staged rollouts. Every change takes the model's row lock, bumps its release sequence and
 * goes to the audit log in the same transaction, so replicas never interleave changes to
 * one model and devices never see a release number go back.
 */
export class RolloutService {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly serving: ServingStateCache,
    private readonly log: FastifyBaseLogger,
  ) {}

  private async lockModel(tx: Tx, projectId: string, modelName: string) {
    const model = await tx.model.findUnique({ where: { projectId_name: { projectId, name: modelName } } });
    if (!model) throw modelNotFound(modelName);
    await tx.$queryRaw`SELECT "id" FROM "Model" WHERE "id" = ${model.id} FOR UPDATE`;
    return tx.model.findUniqueOrThrow({ where: { id: model.id } });
  }

  /**
   * The stable version after `withdrawn` is rolled back: the one it replaced if that is still
   * active, else the newest active version still released before it, else none.
   */
  private async stableAfterRollback(tx: Tx, modelId: string, withdrawn: number, previous: number | null): Promise<number | null> {
    if (previous !== null) {
      const prev = await tx.version.findUnique({ where: { modelId_number: { modelId, number: previous } } });
      if (prev?.state === 'active') return previous;
    }
    const released = await tx.version.findFirst({
      where: { modelId, state: 'active', releasedAt: { not: null }, number: { lt: withdrawn } },
      orderBy: { number: 'desc' },
    });
    return released?.number ?? null;
  }

  /** Starts a rollout; one whose first stage is 100 % publishes the version at once. */
  async create(projectId: string, modelName: string, body: CreateRolloutBody, actor: Actor): Promise<RolloutDto> {
    const stages = body.stages;
    for (let i = 1; i < stages.length; i++) {
      if (stages[i]! <= stages[i - 1]!) throw new FerryError('invalid_rollout', 'stages must increase, e.g. [1, 10, 50, 100]');
    }
    const targeting = body.targeting ?? {};
    const problem = targetingProblem(targeting);
    if (problem) throw new FerryError('invalid_rollout', problem);

    const result = await this.prisma.$transaction(async (tx) => {
      const model = await this.lockModel(tx, projectId, modelName);
      const version = await tx.version.findUnique({
        where: { modelId_number: { modelId: model.id, number: body.version } },
        include: { variants: { where: { status: 'ready' } } },
      });
      if (!version) throw versionNotFound(modelName, body.version);
      if (version.state !== 'active') throw new FerryError('invalid_rollout', `version ${body.version} is archived`);
      if (version.variants.length === 0) throw new FerryError('invalid_rollout', `version ${body.version} has no ready variant to serve`);
      if (model.stableVersion === body.version) throw new FerryError('invalid_rollout', `version ${body.version} is already the stable version`);

      const live = await tx.rollout.findMany({ where: { modelId: model.id, status: { in: LIVE } } });
      const clash = live.find((r) => audiencesOverlap(r.targeting as Targeting, targeting));
      if (clash) {
        throw new FerryError(
          'rollout_conflict',
          `rollout ${clash.id} (version ${clash.version}) is ${clash.status} for an overlapping audience; complete, roll back or cancel it first`,
          { rollout: clash.id },
        );
      }
      const release = model.release + 1;
      const completes = stages[0]! >= 100;
      const now = new Date();
      const event: RolloutEvent = {
        at: now.toISOString(),
        action: completes ? 'complete' : 'start',
        actor: actor.name,
        stage: 0,
        percent: stages[0]!,
        release,
      };
      const rollout = await tx.rollout.create({
        data: {
          id: newId('ro'),
          modelId: model.id,
          version: body.version,
          status: completes ? 'completed' : 'active',
          stages,
          stageIndex: 0,
          targeting: targeting as Prisma.InputJsonValue,
          guardrails: (body.guardrails ?? {}) as Prisma.InputJsonValue,
          schedule: (body.schedule ?? undefined) as Prisma.InputJsonValue | undefined,
          nextAdvanceAt: completes ? null : nextAdvance(body.schedule),
          previousStableVersion: model.stableVersion,
          events: [event] as unknown as Prisma.InputJsonValue,
          createdBy: actor.name,
        },
      });
      await tx.model.update({
        where: { id: model.id },
        data: { release, ...(completes ? { stableVersion: body.version } : {}) },
      });
      if (completes && !version.releasedAt) await tx.version.update({ where: { id: version.id }, data: { releasedAt: now } });
      await recordAudit(tx, {
        projectId,
        actor: actor.name,
        action: completes ? 'rollout.complete' : 'rollout.start',
        target: `${modelName}@${body.version}`,
        details: { rollout: rollout.id, stages, targeting, release } as Prisma.InputJsonValue,
        requestId: actor.requestId,
      });
      return rollout;
    });
    this.serving.invalidate(projectId, modelName);
    return rolloutDto(result, modelName);
  }

  /** Advances, pauses, resumes, rolls back or cancels a rollout. */
  async act(projectId: string, rolloutId: string, action: RolloutAction, actor: Actor, reason?: string, expectStage?: number): Promise<RolloutDto> {
    const found = await this.prisma.rollout.findUnique({ where: { id: rolloutId }, include: { model: true } });
    if (!found || found.model.projectId !== projectId) throw new FerryError('rollout_not_found', `no rollout ${rolloutId} in this project`);
    const modelName = found.model.name;
    const result = await this.prisma.$transaction(async (tx) => {
      const model = await this.lockModel(tx, projectId, modelName);
      const r = await tx.rollout.findUniqueOrThrow({ where: { id: rolloutId } });
      if (expectStage !== undefined && r.stageIndex !== expectStage) {
        throw new FerryError('rollout_not_active', `the rollout moved on (stage ${r.stageIndex + 1}) before this advance`);
      }
      const stages = r.stages as number[];
      const status = r.status as RolloutStatus;
      const now = new Date();
      const release = model.release + 1;
      let data: Prisma.RolloutUpdateInput;
      let modelData: Prisma.ModelUpdateInput = { release };
      let stageIndex = r.stageIndex;
      let eventAction: string = action;

      const requireStatus = (allowed: RolloutStatus[]) => {
        if (!allowed.includes(status)) {
          throw new FerryError('rollout_not_active', `cannot ${action} a rollout that is ${status.replace('_', ' ')}`);
        }
      };
      switch (action) {
        case 'advance': {
          requireStatus(['active']);
          stageIndex = r.stageIndex + 1;
          const percent = stages[stageIndex] ?? 100;
          if (percent >= 100) {
            eventAction = 'complete';
            data = { status: 'completed', stageIndex: Math.min(stageIndex, stages.length - 1), nextAdvanceAt: null };
            modelData = { release, stableVersion: r.version };
            await tx.version.updateMany({ where: { modelId: model.id, number: r.version, releasedAt: null }, data: { releasedAt: now } });
          } else {
            data = { stageIndex, nextAdvanceAt: nextAdvance(r.schedule as RolloutSchedule | null) };
          }
          break;
        }
        case 'pause':
          requireStatus(['active']);
          data = { status: 'paused', nextAdvanceAt: null };
          break;
        case 'resume':
          requireStatus(['paused']);
          data = { status: 'active', nextAdvanceAt: nextAdvance(r.schedule as RolloutSchedule | null) };
          break;
        case 'rollback':
        case 'cancel': {
          const undoesStable = status === 'completed' && model.stableVersion === r.version && action === 'rollback';
          if (!undoesStable) requireStatus(['active', 'paused']);
          data = { status: action === 'rollback' ? 'rolled_back' : 'cancelled', nextAdvanceAt: null };
          if (undoesStable) {
            // The version is withdrawn: no longer released, so never a fallback for devices either.
            await tx.version.updateMany({ where: { modelId: model.id, number: r.version }, data: { releasedAt: null } });
            modelData = { release, stableVersion: await this.stableAfterRollback(tx, model.id, r.version, r.previousStableVersion) };
          }
          break;
        }
      }
      const event: RolloutEvent = {
        at: now.toISOString(),
        action: eventAction,
        actor: actor.name,
        stage: Math.min(stageIndex, stages.length - 1),
        percent: eventAction === 'complete' ? 100 : (stages[stageIndex] ?? 100),
        release,
        ...(reason ? { reason } : {}),
      };
      const updated = await tx.rollout.update({
        where: { id: r.id },
        data: { ...data, events: [...(r.events as RolloutEvent[]), event] as unknown as Prisma.InputJsonValue },
      });
      await tx.model.update({ where: { id: model.id }, data: modelData });
      await recordAudit(tx, {
        projectId,
        actor: actor.name,
        action: `rollout.${eventAction}`,
        target: `${modelName}@${r.version}`,
        details: { rollout: r.id, stage: event.stage, percent: event.percent, release, ...(reason ? { reason } : {}) },
        requestId: actor.requestId,
      });
      return updated;
    });
    this.serving.invalidate(projectId, modelName);
    return rolloutDto(result, modelName);
  }

  /**
   * What guardrail evaluation calls when a live rollout breaches a threshold: pauses it or
   * rolls it back, as its guardrails say (pause by default).
   */
  async onGuardrailBreach(rolloutId: string, reason: string): Promise<RolloutDto | null> {
    const r = await this.prisma.rollout.findUnique({ where: { id: rolloutId }, include: { model: true } });
    if (!r || !LIVE.includes(r.status as RolloutStatus)) return null;
    const onBreach = (r.guardrails as Guardrails).onBreach ?? 'pause';
    if (onBreach === 'pause' && r.status === 'paused') return null;
    this.log.warn({ rollout: rolloutId, reason, action: onBreach }, 'rollout guardrail breached');
    return this.act(r.model.projectId, rolloutId, onBreach, { name: 'guardrail' }, reason);
  }

  /** Advances every scheduled rollout that is due. Safe to run on several replicas at once. */
  async advanceDue(now = new Date()): Promise<string[]> {
    const due = await this.prisma.rollout.findMany({
      where: { status: 'active', nextAdvanceAt: { lte: now } },
      include: { model: { select: { projectId: true } } },
    });
    const advanced: string[] = [];
    for (const r of due) {
      // Claim this step: only the replica whose update matches the old stage advances it.
      const claimed = await this.prisma.rollout.updateMany({
        where: { id: r.id, status: 'active', stageIndex: r.stageIndex, nextAdvanceAt: r.nextAdvanceAt },
        data: { nextAdvanceAt: null },
      });
      if (claimed.count === 0) continue;
      try {
        // Only from the stage it was due at: an advance by hand in between is not doubled.
        await this.act(r.model.projectId, r.id, 'advance', { name: 'scheduler' }, 'scheduled advance', r.stageIndex);
        advanced.push(r.id);
      } catch (err) {
        this.log.error({ err, rollout: r.id }, 'scheduled rollout advance failed');
        // Still due unless it moved meanwhile: the next pass tries again instead of the schedule stopping.
        await this.prisma.rollout
          .updateMany({ where: { id: r.id, status: 'active', stageIndex: r.stageIndex, nextAdvanceAt: null }, data: { nextAdvanceAt: r.nextAdvanceAt } })
          .catch(() => undefined);
      }
    }
    return advanced;
  }

  startScheduler(): void {
    this.timer = setInterval(() => {
      this.advanceDue().catch((err) => this.log.error({ err }, 'rollout scheduler failed'));
    }, SCHEDULER_TICK_MS);
    this.timer.unref();
  }

  stopScheduler(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
