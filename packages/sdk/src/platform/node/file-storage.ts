import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore, MetaStore, PlatformStorage } from '../../core/platform.js';

const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;
const fileName = (key: string) => (SAFE_NAME.test(key) && !key.startsWith('.') ? key : `~${encodeURIComponent(key).replace(/\./g, '%2E')}`);
const keyOf = (name: string) => (name.startsWith('~') ? decodeURIComponent(name.slice(1)) : name);

/** Disk-full errors surface as `QuotaExceededError`, as in browsers, so the cache evicts and retries. */
export function asQuotaError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const quota = new Error(`the disk is full (${code})`, { cause: err });
    quota.name = 'QuotaExceededError';
    return quota;
  }
  return err;
}

/**
 * Writes `bytes` to `target` atomically: a temporary file in the same directory tree, renamed over
 * the target (rename(2) is atomic within a file system), so a crashed process never leaves half a
 * file. `durable` also flushes it to disk first, against power loss: only where a lost write
 * matters (release counters); artifacts are re-hashed on every load anyway.
 */
async function writeAtomic(tmpDir: string, target: string, bytes: Uint8Array, durable: boolean): Promise<void> {
  const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      if (durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw asQuotaError(err);
  }
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** Artifacts as files under `<dir>/artifacts/`. */
export class FileArtifactStore implements ArtifactStore {
  constructor(
    private readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  async match(key: string): Promise<Uint8Array | undefined> {
    try {
      const buf = await readFile(join(this.dir, fileName(key)));
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    return writeAtomic(this.tmpDir, join(this.dir, fileName(key)), bytes, false);
  }

  async delete(key: string): Promise<void> {
    await unlink(join(this.dir, fileName(key))).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }

  async list(): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    for (const name of await readdir(this.dir)) {
      const s = await stat(join(this.dir, name)).catch(() => null);
      if (s?.isFile()) out.push({ key: keyOf(name), size: s.size });
    }
    return out;
  }
}

/** JSON values as files under `<dir>/meta/`; a damaged file reads as missing. */
export class FileMetaStore implements MetaStore {
  constructor(
    private readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    let raw: string;
    try {
      raw = await readFile(join(this.dir, `${fileName(key)}.json`), 'utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: unknown): Promise<void> {
    // Release counters and the pinned audience guard against rollback and mix-and-match: keep them through power loss.
    const durable = key.startsWith('release/') || key.startsWith('audience/');
    return writeAtomic(this.tmpDir, join(this.dir, `${fileName(key)}.json`), new TextEncoder().encode(JSON.stringify(value)), durable);
  }

  async delete(key: string): Promise<void> {
    await unlink(join(this.dir, `${fileName(key)}.json`)).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
}

/** Temporary files older than this are left-overs of a crash (another process may be writing newer ones). */
const STALE_TMP_MS = 60 * 60 * 1000;

/** Opens (creating) a cache directory: `artifacts/`, `meta/`, and `tmp/` for atomic writes. */
export async function openDirectoryStorage(root: string): Promise<PlatformStorage> {
  const artifacts = join(root, 'artifacts');
  const meta = join(root, 'meta');
  const tmp = join(root, 'tmp');
  await Promise.all([mkdir(artifacts, { recursive: true }), mkdir(meta, { recursive: true }), mkdir(tmp, { recursive: true })]);
  for (const name of await readdir(tmp)) {
    const s = await stat(join(tmp, name)).catch(() => null);
    if (s && Date.now() - s.mtimeMs > STALE_TMP_MS) await rm(join(tmp, name), { force: true });
  }
  return { kind: 'directory', artifacts: new FileArtifactStore(artifacts, tmp), meta: new FileMetaStore(meta, tmp) };
}
