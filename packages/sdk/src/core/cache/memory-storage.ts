import type { ArtifactStore, MetaStore, PlatformStorage } from '../platform.js';

/** Artifacts in a Map: the last-resort store, and the one tests use. Keeps copies, never views. */
export class MemoryArtifactStore implements ArtifactStore {
  readonly entries = new Map<string, Uint8Array>();

  async match(key: string): Promise<Uint8Array | undefined> {
    const bytes = this.entries.get(key);
    return bytes ? bytes.slice() : undefined;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.entries.set(key, bytes.slice());
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async list(): Promise<{ key: string; size: number }[]> {
    return [...this.entries].map(([key, bytes]) => ({ key, size: bytes.byteLength }));
  }
}

/** JSON values in a Map (stored serialised, so callers never share objects with the store). */
export class MemoryMetaStore implements MetaStore {
  readonly entries = new Map<string, string>();

  async get<T>(key: string): Promise<T | undefined> {
    const raw = this.entries.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  async set(key: string, value: unknown): Promise<void> {
    this.entries.set(key, JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }
}

/** A cache that lives as long as the page or process. */
export function memoryStorage(): PlatformStorage {
  return { kind: 'memory', artifacts: new MemoryArtifactStore(), meta: new MemoryMetaStore() };
}
