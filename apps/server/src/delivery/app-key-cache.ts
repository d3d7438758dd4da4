import type { PrismaClient } from '../db/database.js';
import { FerryError } from '../errors.js';

export interface AppKeyRecord {
  id: string;
  /** The public key itself, as apps ship it; manifests are issued to it (`aud`). */
  key: string;
  projectId: string;
}

const TTL_MS = 5000;

interface Entry {
  at: number;
  record: Promise<AppKeyRecord | 'revoked' | null>;
  /** Set once loaded, when the key is valid. */
  valid?: AppKeyRecord;
}

/**
 * App keys by their public value, cached for a few seconds: resolve and telemetry are hot
 * paths. A revocation made on this server applies at once, one made on another replica
 * within {@link TTL_MS}.
 */
export class AppKeyCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly prisma: PrismaClient) {}

  /**
   * The key's record when it is cached, fresh and valid; undefined otherwise, and then
   * {@link require} loads it or says what is wrong with it. Saves resolve a promise.
   */
  peek(key: unknown): AppKeyRecord | undefined {
    if (typeof key !== 'string') return undefined;
    const hit = this.entries.get(key);
    return hit?.valid !== undefined && Date.now() - hit.at <= TTL_MS ? hit.valid : undefined;
  }

  async require(key: unknown): Promise<AppKeyRecord> {
    if (typeof key !== 'string' || key.length === 0) {
      throw new FerryError('invalid_app_key', 'send the app key as the X-Ferry-App-Key header');
    }
    if (key.length > 200) throw new FerryError('invalid_app_key', 'unknown app key');
    let hit = this.entries.get(key);
    if (!hit || Date.now() - hit.at > TTL_MS) {
      const entry: Entry = { at: Date.now(), record: this.load(key) };
      entry.record.then(
        (record) => {
          if (record !== null && record !== 'revoked') entry.valid = record;
        },
        // A failed lookup (the database unreachable) is not remembered: the next request asks again.
        () => {
          if (this.entries.get(key) === entry) this.entries.delete(key);
        },
      );
      hit = entry;
      this.entries.set(key, hit);
      if (this.entries.size > 10_000) this.entries.delete(this.entries.keys().next().value!);
    }
    const record = await hit.record;
    if (record === null) throw new FerryError('invalid_app_key', 'unknown app key');
    if (record === 'revoked') throw new FerryError('invalid_app_key', 'this app key was revoked');
    return record;
  }

  invalidate(key: string): void {
    this.entries.delete(key);
  }

  private async load(key: string): Promise<AppKeyRecord | 'revoked' | null> {
    const found = await this.prisma.appKey.findUnique({ where: { key }, select: { id: true, projectId: true, revokedAt: true } });
    if (!found) return null;
    return found.revokedAt ? 'revoked' : { id: found.id, key, projectId: found.projectId };
  }
}
