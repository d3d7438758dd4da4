import type { BlockDigests, IoSignature, Targeting } from '@ferry/protocol';
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

const CHECK_MS = 1000;

interface Entry {
  state: Promise<ServingState | null>;
  /** Set once loaded: the state itself, for callers that can go on without awaiting. */
  value?: ServingState | null;
  /** Set once loaded: what the entry was loaded at, to compare with the database. */
  loaded?: { modelId: string; release: number } | null;
}

/**
 * {@link ServingState} per model, kept until the model's release sequence moves. Every change
 * of what is served bumps the release, so one cheap query a second (the releases of all cached
 * models) tells which entries another replica has made stale; requests never wait for it.
 * Changes made through this server invalidate their entry at once.
 */
export class ServingStateCache {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(private readonly prisma: PrismaClient) {}

  get(projectId: string, model: string): Promise<ServingState | null> {
    const key = `${projectId}/${model}`;
    const hit = this.entries.get(key);
    if (hit) return hit.state;
    const entry: Entry = { state: this.load(projectId, model) };
    entry.state.then(
      (state) => {
        entry.value = state;
        entry.loaded = state ? { modelId: state.modelId, release: state.release } : null;
      },
      () => this.entries.delete(key),
    );
    this.entries.set(key, entry);
    if (this.entries.size > 10_000) this.entries.delete(this.entries.keys().next().value!);
    return entry.state;
  }

  /**
   * The model's state when it is already loaded (null: no such model), undefined when it has
   * to be loaded first ({@link get}). Lets resolve answer without waiting on a promise.
   */
  peek(projectId: string, model: string): ServingState | null | undefined {
    return this.entries.get(`${projectId}/${model}`)?.value;
  }

  invalidate(projectId: string, model: string): void {
    this.entries.delete(`${projectId}/${model}`);
  }

  start(): void {
    this.timer = setInterval(() => void this.checkReleases(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Drops entries whose model's release moved (or that were missing and may exist now). */
  async checkReleases(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const loaded = new Map<string, { key: string; release: number }>();
      for (const [key, entry] of this.entries) {
        if (entry.loaded === null) this.entries.delete(key);
        else if (entry.loaded) loaded.set(entry.loaded.modelId, { key, release: entry.loaded.release });
      }
      if (loaded.size === 0) return;
      const rows = await this.prisma.model.findMany({ where: { id: { in: [...loaded.keys()] } }, select: { id: true, release: true } });
      const current = new Map(rows.map((r) => [r.id, r.release]));
      for (const [modelId, { key, release }] of loaded) {
        if (current.get(modelId) !== release) this.entries.delete(key);
      }
    } catch {
      // The database is unreachable: keep serving what is cached; /readyz reports the outage.
    } finally {
      this.checking = false;
    }
  }

  private async load(projectId: string, name: string): Promise<ServingState | null> {
    const model = await this.prisma.model.findUnique({
      where: { projectId_name: { projectId, name } },
      include: {
        project: { select: { name: true } },
        versions: {
          where: { state: 'active' },
          include: { variants: { where: { status: 'ready', artifactSha: { not: null } }, include: { artifact: { select: { size: true, blocks: true } } } } },
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
          blocks: (x.artifact?.blocks as BlockDigests | null | undefined) ?? null,
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
