import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { SHA256_HEX, type BlobStore, type ByteRange, type StoredBlob } from './blob-store.js';

// Large reads keep the number of syscalls and stream chunks low when serving big models.
const READ_CHUNK = 1024 * 1024;

/** Blobs as files under `<root>/sha256/ab/<sha256>`. */
export class LocalBlobStore implements BlobStore {
  readonly kind = 'local';

  constructor(private readonly root: string) {}

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new FerryError('artifact_not_found', 'not a SHA-256 digest');
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  async putFile(sha256: string, filePath: string, _size: number): Promise<void> {
    const target = this.pathOf(sha256);
    await mkdir(dirname(target), { recursive: true });
    // rename(2) is atomic within one file system: readers see the old blob or the new one.
    await rename(filePath, target);
    const dir = await open(dirname(target), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    try {
      const s = await stat(this.pathOf(sha256));
      return { size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(sha256);
    const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new FerryError('artifact_not_found', `artifact ${sha256} is not stored`);
      throw err;
    });
    return createReadStream('', {
      fd: handle,
      highWaterMark: READ_CHUNK,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async delete(sha256: string): Promise<void> {
    await unlink(this.pathOf(sha256)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async *list(): AsyncIterable<StoredBlob> {
    const base = join(this.root, 'sha256');
    let shards: string[];
    try {
      shards = await readdir(base);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const shard of shards.sort()) {
      for (const name of (await readdir(join(base, shard))).sort()) {
        if (!SHA256_HEX.test(name)) continue;
        const s = await stat(join(base, shard, name)).catch(() => null);
        if (s) yield { sha256: name, size: s.size, lastModified: s.mtime };
      }
    }
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await stat(this.root);
  }

  async close(): Promise<void> {}

  /** Removes the whole store; for tests. */
  async destroy(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}
