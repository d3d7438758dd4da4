import type { PrismaClient } from '../db/database.js';

/** What the artifact route needs to answer for one artifact of one project. */
export interface ArtifactEntry {
  size: number;
  /** Pre-compressed copies (`br`, `gzip`): their blob and size. */
  encodings: { encoding: string; blobSha: string; size: number }[];
}

const TTL_MS = 5000;
const MAX_ENTRIES = 10_000;

/**
 * Artifacts a project may fetch, by SHA-256, cached for a few seconds: every artifact request
 * (and each resumed Range request) asked the database twice before its first byte. Bytes are
 * immutable by content; what can change is whether the project still has a version using them
 * and which compressed copies exist, both seen within {@link TTL_MS}. Misses are not cached, so
 * a newly published artifact is served at once.
 */
export class ArtifactLookup {
  private readonly entries = new Map<string, { at: number; entry: Promise<ArtifactEntry | null> }>();

  constructor(private readonly prisma: PrismaClient) {}

  get(projectId: string, sha256: string): Promise<ArtifactEntry | null> {
    const key = `${projectId}|${sha256}`;
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at <= TTL_MS) return hit.entry;
    const entry = this.load(projectId, sha256);
    const cached = { at: Date.now(), entry };
    this.entries.set(key, cached);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    entry.then(
      (found) => {
        if (found === null && this.entries.get(key) === cached) this.entries.delete(key);
      },
      () => {
        if (this.entries.get(key) === cached) this.entries.delete(key);
      },
    );
    return entry;
  }

  private async load(projectId: string, sha256: string): Promise<ArtifactEntry | null> {
    const variant = await this.prisma.variant.findFirst({
      where: { artifactSha: sha256, version: { model: { projectId } } },
      select: { artifact: { select: { size: true, encodings: { select: { encoding: true, blobSha: true, size: true } } } } },
    });
    if (!variant?.artifact) return null;
    const { size, encodings } = variant.artifact;
    return { size: Number(size), encodings: encodings.map((e) => ({ encoding: e.encoding, blobSha: e.blobSha, size: Number(e.size) })) };
  }
}
