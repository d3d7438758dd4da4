import type {
  AdminToken as AdminTokenDto,
  AppKey as AppKeyDto,
  Model as ModelDto,
  Project as ProjectDto,
  Version as VersionDto,
  Variant as VariantDto,
} from '@ferry/protocol';
import type { AdminToken, AppKey, Job, Model, Project, Variant, Version } from '../generated/prisma/client.js';

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

export function projectDto(p: Project): ProjectDto {
  return { id: p.id, name: p.name, createdAt: iso(p.createdAt) };
}

export function appKeyDto(k: AppKey): AppKeyDto {
  return { id: k.id, key: k.key, name: k.name, createdAt: iso(k.createdAt), revokedAt: isoOrNull(k.revokedAt) };
}

export function adminTokenDto(t: AdminToken, projectName: string): AdminTokenDto {
  return {
    id: t.id,
    name: t.name,
    role: t.role as AdminTokenDto['role'],
    project: projectName,
    prefix: t.prefix,
    createdAt: iso(t.createdAt),
    createdBy: t.createdBy,
    revokedAt: isoOrNull(t.revokedAt),
    lastUsedAt: isoOrNull(t.lastUsedAt),
  };
}

export function modelDto(m: Model): ModelDto {
  return {
    id: m.id,
    name: m.name,
    task: m.task,
    description: m.description,
    labels: (m.labels as string[] | null) ?? null,
    metadata: (m.metadata as Record<string, unknown> | null) ?? null,
    latestVersion: m.versionCount > 0 ? m.versionCount : null,
    stableVersion: m.stableVersion,
    release: m.release,
    servingPolicy: (m.servingPolicy as ModelDto['servingPolicy']) ?? null,
    variantSettings: (m.variantSettings as ModelDto['variantSettings']) ?? null,
    createdAt: iso(m.createdAt),
    updatedAt: iso(m.updatedAt),
  };
}

export function variantDto(v: Variant, job?: Job): VariantDto {
  const inFlight = job && (v.status === 'pending' || v.status === 'building') ? { progress: job.progress, ...(job.stage ? { stage: job.stage } : {}) } : {};
  return {
    ...inFlight,
    id: v.id,
    kind: v.kind,
    status: v.status as VariantDto['status'],
    sha256: v.artifactSha,
    size: v.size === null ? null : Number(v.size),
    encodings: v.encodings as VariantDto['encodings'],
    requires: v.requires as VariantDto['requires'],
    ...(v.accuracy ? { accuracy: v.accuracy as NonNullable<VariantDto['accuracy']> } : {}),
    ...(v.reason ? { reason: v.reason } : {}),
  };
}

export function versionDto(v: Version & { variants: Variant[]; jobs?: Job[] }, modelName: string): VersionDto {
  const jobOf = (kind: string) => v.jobs?.find((j) => j.type === 'variant' && j.variantKind === kind);
  return {
    version: v.number,
    model: modelName,
    format: v.format as VersionDto['format'],
    sha256: v.artifactSha,
    size: Number(v.size),
    state: v.state as VersionDto['state'],
    notes: v.notes,
    io: (v.io as VersionDto['io']) ?? null,
    onnx: (v.inspection as VersionDto['onnx']) ?? null,
    createdAt: iso(v.createdAt),
    createdBy: v.createdBy,
    releasedAt: v.releasedAt?.toISOString() ?? null,
    compatibility: (v.compatibility as VersionDto['compatibility']) ?? null,
    variants: [...v.variants].sort((a, b) => (a.kind === 'original' ? -1 : b.kind === 'original' ? 1 : a.kind.localeCompare(b.kind))).map((x) => variantDto(x, jobOf(x.kind))),
  };
}
