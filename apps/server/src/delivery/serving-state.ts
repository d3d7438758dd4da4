import type { IoSignature, Targeting } from '@ferry/protocol';
import type { PrismaClient } from '../db/database.js';
import type { ServableVariant, ServingPolicy } from './candidates.js';

/** What a device needs to receive a version. */
export interface Compatibility {
  sdk?: string;
  runtime?: { name: string; range: string };
  appVersion?: string;
}

export interface ServingVersion {
  number: number;
  io: IoSignature | null;
  compatibility: Compatibility | null;
  releasedAt: number | null;
  variants: ServableVariant[];
}

export interface ServingRollout {
  id: string;
  version: number;
  status: 'active' | 'paused';
  stageIndex: number;
  percent: number;
  targeting: Targeting;
}

/** Everything resolve needs about one model, loaded in one query and shared by all devices. */
export interface ServingState {
  projectId: string;
  projectName: string;
  modelId: string;
  name: string;
  release: number;
  stableVersion: number | null;
  task: string | null;
  labels: string[] | null;
  metadata: Record<string, unknown> | null;
  policy: ServingPolicy | null;
  versions: Map<number, ServingVersion>;
  rollouts: ServingRollout[];
}

const TTL_MS = 1000;

/**
 * A short-lived cache of {@link ServingState} per model. Changes made through this server
 * invalidate it at once; changes made by other replicas are seen within a second.
 */
export class ServingStateCache {
  private readonly entries = new Map<string, { at: number; state: Promise<ServingState | null> }>();

  constructor(private readonly prisma: PrismaClient) {}

  get(projectId: string, model: string): Promise<ServingState | null> {
    const key = `${projectId}/${model}`;
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.state;
    const state = this.load(projectId, model);
    this.entries.set(key, { at: Date.now(), state });
    state.catch(() => this.entries.delete(key));
    if (this.entries.size > 10_000) this.entries.delete(this.entries.keys().next().value!);
    return state;
  }

  invalidate(projectId: string, model: string): void {
    this.entries.delete(`${projectId}/${model}`);
  }

  private async load(projectId: string, name: string): Promise<ServingState | null> {
    const model = await this.prisma.model.findUnique({
      where: { projectId_name: { projectId, name } },
      include: {
        project: { select: { name: true } },
        versions: {
          where: { state: 'active' },
          include: { variants: { where: { status: 'ready', artifactSha: { not: null } }, include: { artifact: { select: { size: true } } } } },
        },
        rollouts: { where: { status: { in: ['active', 'paused'] } }, orderBy: { createdAt: 'asc' } },
      },
    });
    if (!model) return null;
    const versions = new Map<number, ServingVersion>();
    for (const v of model.versions) {
      versions.set(v.number, {
        number: v.number,
        io: (v.io as IoSignature | null) ?? null,
        compatibility: (v.compatibility as Compatibility | null) ?? null,
        releasedAt: v.releasedAt?.getTime() ?? null,
        variants: v.variants.map((x) => ({
          kind: x.kind,
          precision: x.precision,
          sha256: x.artifactSha!,
          size: Number(x.size ?? x.artifact?.size ?? 0),
          requires: x.requires as unknown as ServableVariant['requires'],
          encodings: x.encodings as unknown as ServableVariant['encodings'],
        })),
      });
    }
    return {
      projectId,
      projectName: model.project.name,
      modelId: model.id,
      name: model.name,
      release: model.release,
      stableVersion: model.stableVersion,
      task: model.task,
      labels: (model.labels as string[] | null) ?? null,
      metadata: (model.metadata as Record<string, unknown> | null) ?? null,
      policy: (model.servingPolicy as ServingPolicy | null) ?? null,
      versions,
      rollouts: model.rollouts.map((r) => {
        const stages = r.stages as number[];
        return {
          id: r.id,
          version: r.version,
          status: r.status as 'active' | 'paused',
          stageIndex: r.stageIndex,
          percent: stages[r.stageIndex] ?? 100,
          targeting: r.targeting as Targeting,
        };
      }),
    };
  }
}
