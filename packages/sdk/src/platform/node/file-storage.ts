import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AsyncLock } from '../../core/cache/async-lock.js';
import { memoryStorage } from '../../core/cache/memory-storage.js';
import type { ArtifactStore, ArtifactWriter, MetaStore, PlatformStorage, QuickStore, Sha256Hasher } from '../../core/platform.js';
import { lockDirectory } from './directory-lock.js';

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
  const tmp = tmpName(tmpDir);
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await writeAll(handle, [bytes], 0);
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

function isDirectorySync(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false; // Not reachable (EACCES, ENOTDIR): made or refused by the first write.
  }
}

/** Not there: the file, or (ENOTDIR) a directory on its path. */
const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');
const tmpName = (tmpDir: string) => join(tmpDir, `${randomBytes(8).toString('hex')}.tmp`);

/**
 * Writes all of `chunks` at `position` (the file position when null), in as few system calls as
 * the OS allows (writeFile takes one thread-pool round trip per 512 KiB, each waiting for the
 * main thread).
 */
async function writeAll(handle: FileHandle, chunks: Uint8Array[], position: number | null = null): Promise<void> {
  let rest = chunks.filter((c) => c.byteLength > 0);
  while (rest.length) {
    const { bytesWritten } = rest.length === 1 ? await handle.write(rest[0]!, 0, rest[0]!.byteLength, position) : await handle.writev(rest, position ?? undefined);
    if (position !== null) position += bytesWritten;
    let skip = bytesWritten;
    while (rest.length && skip >= rest[0]!.byteLength) skip -= rest.shift()!.byteLength;
    if (skip > 0) rest[0] = rest[0]!.subarray(skip);
  }
}

/**
 * Reads are this large: big enough for few round trips, small enough that hashing one overlaps
 * reading the next. The first is smaller, so that hashing starts sooner.
 */
const READ_CHUNK = 2 * 1024 * 1024;
const FIRST_READ_CHUNK = 512 * 1024;

/** A downloading artifact is written in pieces of at least this much (a 16 KiB chunk each would be 450 writes for 7 MiB). */
const WRITE_BATCH = 1024 * 1024;

/**
 * An artifact written while it downloads: to a temporary file, renamed into place on `commit`
 * (so the entry appears whole or not at all). Bytes go out in batches of `WRITE_BATCH`, one write
 * in flight at a time; the last bytes go out at once, at their offset, so that the file is
 * complete while the session loads on a busy main thread.
 */
class FileArtifactWriter implements ArtifactWriter {
  private readonly tmp: string;
  private readonly opening: Promise<FileHandle>;
  private handle: FileHandle | null = null;
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** File offset of the first queued byte. */
  private position = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  private closed = false;

  constructor(
    private readonly target: string,
    tmpDir: string,
    private readonly size: number | undefined,
    dirs: CacheDirectories,
  ) {
    this.tmp = tmpName(tmpDir);
    this.opening = dirs.made().then(() => open(this.tmp, 'wx', 0o600));
    this.opening.then(
      (handle) => {
        this.handle = handle;
        this.pump();
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
  }

  write(chunk: Uint8Array): void {
    if (this.closed || this.failure !== null || chunk.byteLength === 0) return;
    this.queue.push(chunk);
    this.queued += chunk.byteLength;
    this.pump();
  }

  /** Writes what is queued if it is a batch and nothing is being written, or if it is the last of the bytes. */
  private pump(): void {
    const complete = this.size !== undefined && this.position + this.queued >= this.size;
    if (complete || (this.inFlight.size === 0 && this.queued >= WRITE_BATCH)) this.issue();
  }

  private issue(): void {
    if (!this.handle || !this.queue.length || this.failure !== null) return;
    const batch = this.queue;
    const position = this.position;
    this.queue = [];
    this.position += this.queued;
    this.queued = 0;
    const written: Promise<void> = writeAll(this.handle, batch, position).then(
      () => {
        this.inFlight.delete(written);
        this.pump();
      },
      (err: unknown) => {
        this.failure ??= err;
        this.inFlight.delete(written);
      },
    );
    this.inFlight.add(written);
  }

  /** Waits until every byte given is written (or a write failed). */
  private async flush(): Promise<void> {
    await this.opening.catch(() => undefined);
    this.issue();
    while (this.inFlight.size) {
      await Promise.all([...this.inFlight]);
      this.issue();
    }
  }

  async commit(): Promise<void> {
    if (this.closed) throw new Error('this artifact writer is closed');
    this.closed = true;
    await this.flush();
    try {
      if (this.failure !== null) throw this.failure;
      await this.handle!.close();
      await rename(this.tmp, this.target);
    } catch (err) {
      await this.discard();
      throw asQuotaError(err);
    }
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    await this.flush();
    await this.discard();
  }

  private async discard(): Promise<void> {
    await this.opening.then((h) => h.close()).catch(() => undefined);
    await rm(this.tmp, { force: true }).catch(() => undefined);
  }
}

/**
 * The cache's directories, made on first use: a new cache directory costs several milliseconds
 * of metadata writes on some disks, so opening does not wait for them; the first write does
 * (it is long done by then), while reads of a directory not there yet simply find nothing.
 * If they cannot be made (read-only disk, a file in the way) the cache lives in memory instead.
 */
class CacheDirectories {
  private making: Promise<void> | null = null;
  /** Set when the directories could not be made. */
  failed: unknown = null;
  /**
   * True while a cache that did not exist is being made: it holds nothing yet, so reads answer
   * without touching the disk (they would wait behind the directories being made).
   */
  empty: boolean;
  readonly memory = memoryStorage();

  constructor(
    private readonly paths: string[],
    exist: boolean,
  ) {
    if (exist) this.making = Promise.resolve();
    this.empty = !exist;
  }

  /** Makes the directories (once); rejects with the reason when they cannot be. */
  made(): Promise<void> {
    this.making ??= Promise.all(this.paths.map((p) => mkdir(p, { recursive: true }))).then(
      () => {
        this.empty = false;
      },
      (err: unknown) => {
        this.failed = err;
        throw err;
      },
    );
    return this.making;
  }

  /** True once the directories exist; false when they cannot be made (use {@link memory}). */
  usable(): Promise<boolean> {
    return this.made().then(
      () => true,
      () => false,
    );
  }
}

/** Artifacts as files under `<dir>/artifacts/`. */
export class FileArtifactStore implements ArtifactStore {
  constructor(
    private readonly dir: string,
    private readonly tmpDir: string,
    private readonly dirs: CacheDirectories,
  ) {}

  async match(key: string): Promise<Uint8Array | undefined> {
    if (this.dirs.empty) return undefined;
    try {
      const buf = await readFile(join(this.dir, fileName(key)));
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /**
   * Reads the file into one buffer of its size, `READ_CHUNK` at a time, hashing each chunk while
   * the next is read (hashing 7 MiB takes longer than reading it from the page cache).
   */
  async matchHashing(key: string, hasher: Sha256Hasher): Promise<Uint8Array | undefined> {
    if (this.dirs.empty) return undefined;
    let handle: FileHandle;
    try {
      handle = await open(join(this.dir, fileName(key)), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      const bytes = new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
      let filled = 0;
      let next = size > 0 ? handle.read(bytes, 0, Math.min(FIRST_READ_CHUNK, size), 0) : null;
      while (next) {
        const { bytesRead } = await next;
        if (bytesRead === 0) break; // Shorter than it was: the core sees the wrong length.
        const start = filled;
        filled += bytesRead;
        // The next read fills a later part of the buffer while this part is hashed.
        next = filled < size ? handle.read(bytes, filled, Math.min(READ_CHUNK, size - filled), filled) : null;
        hasher.update(bytes.subarray(start, filled));
      }
      if (filled < size) return bytes.subarray(0, filled);
      // Longer than it was when opened (written in place?): hash and return the rest too.
      const more: Uint8Array[] = [];
      for (let position = size; ; ) {
        const chunk = new Uint8Array(64 * 1024);
        const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, position);
        if (bytesRead === 0) break;
        more.push(chunk.subarray(0, bytesRead));
        hasher.update(chunk.subarray(0, bytesRead));
        position += bytesRead;
      }
      return more.length ? concatBytes([bytes, ...more]) : bytes;
    } finally {
      handle.close().catch(() => undefined);
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    if (!(await this.dirs.usable())) return this.dirs.memory.artifacts.put(key, bytes);
    return writeAtomic(this.tmpDir, join(this.dir, fileName(key)), bytes, false);
  }

  writer(key: string, size?: number): ArtifactWriter {
    return new FileArtifactWriter(join(this.dir, fileName(key)), this.tmpDir, size, this.dirs);
  }

  async delete(key: string): Promise<void> {
    await unlink(join(this.dir, fileName(key))).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }

  async list(): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    if (this.dirs.empty) return out;
    const names = await readdir(this.dir).catch((err: unknown) => {
      if (isMissing(err)) return [];
      throw err;
    });
    for (const name of names) {
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
    private readonly dirs: CacheDirectories,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    if (this.dirs.empty) return undefined;
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

  async set(key: string, value: unknown): Promise<void> {
    if (!(await this.dirs.usable())) return this.dirs.memory.meta.set(key, value);
    // Release counters and the pinned audience guard against rollback and mix-and-match: keep them through power loss.
    const durable = key.startsWith('release/') || key.startsWith('audience/');
    return writeAtomic(this.tmpDir, join(this.dir, `${fileName(key)}.json`), new TextEncoder().encode(JSON.stringify(value)), durable);
  }

  async delete(key: string): Promise<void> {
    if (this.dirs.empty) return; // Nothing to delete (a client with telemetry off deletes its queue on each start).
    await unlink(join(this.dir, `${fileName(key)}.json`)).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }
}

/**
 * The cache directory's meta values read at once, synchronously (the core's {@link QuickStore}):
 * whether this is the device's first start (no install id yet) is then known before the cache
 * opens, and its first resolve goes out at once. One small file read, only when a client is made.
 * The meta store stays the record (the client writes the id there); a value set here is only
 * remembered by this process.
 */
export function openDirectoryQuickStore(root: string): QuickStore {
  const dir = join(root, 'meta');
  return {
    get(key) {
      const given = givenInThisProcess.get(join(dir, key));
      if (given !== undefined) return given;
      try {
        const value: unknown = JSON.parse(readFileSync(join(dir, `${fileName(key)}.json`), 'utf8'));
        return typeof value === 'string' ? value : undefined;
      } catch {
        return undefined; // Missing or damaged: read as missing, as the meta store does.
      }
    },
    // The meta store is written anyway; kept here so that another client of this cache made in
    // this process before that write takes the same install id (not a second new one).
    set: (key, value) => void givenInThisProcess.set(join(dir, key), value),
  };
}

/** Values set through quick stores in this process, by cache directory and key. */
const givenInThisProcess = new Map<string, string>();

/** Temporary files older than this are left-overs of a crash (another process may be writing newer ones). */
const STALE_TMP_MS = 60 * 60 * 1000;

async function sweepStaleTmp(tmp: string): Promise<void> {
  for (const name of await readdir(tmp)) {
    const s = await stat(join(tmp, name)).catch(() => null);
    if (s && Date.now() - s.mtimeMs > STALE_TMP_MS) await rm(join(tmp, name), { force: true });
  }
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** One lock per cache directory (by its absolute path) for the clients of this process. */
const processLocks = new Map<string, AsyncLock>();

/**
 * Opens a cache directory: `artifacts/`, `meta/`, and `tmp/` for atomic writes. A new one is
 * made by its first write (see {@link CacheDirectories}); one that cannot be made leaves the cache
 * in memory, and `kind` says `memory` from then on.
 */
export async function openDirectoryStorage(root: string): Promise<PlatformStorage> {
  const artifacts = join(root, 'artifacts');
  const meta = join(root, 'meta');
  const tmp = join(root, 'tmp');
  const paths = [artifacts, meta, tmp];
  // Checked synchronously (three stat calls, a few µs each): on a first start the load waits for
  // this, and a thread-pool round trip took 1–2 ms here while the resolve was in flight.
  const exist = paths.every((p) => isDirectorySync(p));
  const dirs = new CacheDirectories(paths, exist);
  // Sweeping left-overs need not delay the first load. A new cache's directories are made by its first write.
  if (exist) void sweepStaleTmp(tmp).catch(() => undefined);
  const files = { kind: 'directory', artifacts: new FileArtifactStore(artifacts, tmp, dirs), meta: new FileMetaStore(meta, tmp, dirs) };
  const key = resolve(root);
  const inProcess = processLocks.get(key) ?? new AsyncLock();
  processLocks.set(key, inProcess);
  // The clients of this process take turns first, then the process takes the directory's lock.
  const exclusive = <T>(section: () => Promise<T>): Promise<T> =>
    inProcess.run(async () => {
      // Across processes: a lock directory (see lockDirectory).
      const release = (await dirs.usable()) ? await lockDirectory(join(root, 'lock')) : null;
      try {
        return await section();
      } finally {
        await release?.().catch(() => undefined);
      }
    });
  return {
    exclusive,
    get kind() {
      return dirs.failed === null ? files.kind : dirs.memory.kind;
    },
    get artifacts() {
      return dirs.failed === null ? files.artifacts : dirs.memory.artifacts;
    },
    get meta() {
      return dirs.failed === null ? files.meta : dirs.memory.meta;
    },
  };
}
