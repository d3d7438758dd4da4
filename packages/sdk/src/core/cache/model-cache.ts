import { CacheCorruptError, ManifestRollbackError, type CandidateFailure } from '../errors.js';
import { sha256Hex } from '../hash/sha256.js';
import type { ArtifactWriter, PlatformStorage, Sha256Hasher } from '../platform.js';
import { AsyncLock } from './async-lock.js';

/** A model this device installed: its verified manifest and the artifact it keeps for it. */
export interface InstalledModel {
  model: string;
  /** The manifest (compact JWS) the bytes were verified against; re-verified on load. */
  jws: string;
  release: number;
  version: number;
  /** The cached artifact. */
  sha256: string;
  size: number;
  variant: string;
  /** The backend it last ran on; null when only prefetched. */
  backend: string | null;
  /** Candidates of this manifest that do not work on this device, and why. */
  failures: CandidateFailure[];
  installedAt: number;
  /**
   * The bytes this model ran on here before a better variant of the same release and version
   * replaced them (a device that gained WebGPU): kept until the new ones have run here, so that a
   * variant that fails goes back to them, offline too, with no download.
   */
  fallback?: InstalledFallback;
}

/** See {@link InstalledModel.fallback}. */
export interface InstalledFallback {
  sha256: string;
  size: number;
  variant: string;
  backend: string;
  /**
   * True when the last start ran these bytes, not the model's own (a start without the GPU they
   * are for): the model's own are then the spare ones, evicted first ({@link ModelCache.markRan}).
   */
  ranLast?: boolean;
}

/** Bytes of `model` an install about to follow replaces ({@link ModelCache.replacedBy}). */
interface Going {
  model: string;
  shas: readonly string[];
}

/** `record` without its fallback. */
function withoutFallback(record: InstalledModel): InstalledModel {
  const { fallback: _, ...rest } = record;
  return rest;
}

/** `record` moved onto its fallback's bytes, `fallback` (its own are gone or given up), with no fallback. */
function onFallback(record: InstalledModel, fallback: InstalledFallback): InstalledModel {
  const { sha256, size, variant, backend } = fallback;
  return { ...withoutFallback(record), sha256, size, variant, backend };
}

/**
 * True when `record` is still `was`, the record a caller read (same manifest, same bytes), or no
 * `was` is given: another tab may have installed something else since, which a change drawn up
 * from `was` must leave alone.
 */
const still = (record: InstalledModel, was?: InstalledModel): boolean => !was || (record.jws === was.jws && record.sha256 === was.sha256);

/** The artifacts an installed record keeps. */
const keptBy = (record: InstalledModel): string[] => (record.fallback ? [record.sha256, record.fallback.sha256] : [record.sha256]);

/** An artifact in the cache's index, for the byte budget and LRU eviction. */
interface IndexedArtifact {
  size: number;
  lastUsed: number;
}

/** Longest a deferred cache write waits for running loads (see ModelCache.afterLoads). */
const MAX_DEFER_MS = 1000;
const KEY = {
  release: (model: string) => `release/${model}`,
  installed: (model: string) => `installed/${model}`,
  models: 'installed-models',
  artifacts: 'artifacts',
} as const;

export interface ModelCacheOptions {
  /** Byte budget of cached artifacts, across models. */
  maxBytes: number;
  now: () => number;
  createSha256?: (() => Sha256Hasher) | undefined;
}

/** Outcome of reading an artifact back; `pending` when the bytes are another load's download, not stored yet ({@link ModelCache.read}). */
export type CachedArtifact = { bytes: Uint8Array; pending?: true } | { missing: true };

/**
 * Ferry's cache over a platform's stores: content-addressed artifacts within a byte budget
 * (least recently used evicted first, across models), installed-model records, and the highest
 * release accepted per model (anti-rollback).
 */
export class ModelCache {
  /** Orders this client's cache operations; {@link exclusive} adds the lock shared with other clients. */
  private readonly lock = new AsyncLock();
  private index: Record<string, IndexedArtifact> | null = null;
  private lastStamp = 0;
  /** Writes that need not delay a load (use times, the index), awaited by {@link settle}. */
  private readonly background = new Set<Promise<unknown>>();
  private lastSave: Promise<void> = Promise.resolve();
  private queuedSave: Promise<void> | null = null;
  /** Highest release accepted per model in this process (ahead of the store while it is written). */
  private readonly releases = new Map<string, number>();
  /** The write of each model's release counter; a new one writes the highest at that time. */
  private readonly releaseWrites = new Map<string, Promise<void>>();
  /**
   * Installs finishing behind a load, by model. A reader that needs one ({@link waitForInstall})
   * lets it run at once instead of after the loads running now: a load that reads its own model
   * would otherwise wait for itself.
   */
  private readonly pendingInstalls = new Map<string, { work: Promise<void>; expedite: () => void }>();
  /**
   * Verified bytes an install behind a load is about to store, by SHA-256: a load that reads them
   * meanwhile gets them from here (that install waits for it to finish, so the store would not
   * have them yet, and the load would download them again).
   */
  private readonly pendingBytes = new Map<string, Uint8Array>();
  /** Loads running now (see {@link hold}), and the gate deferred writes wait at. */
  private loadsRunning = 0;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;

  constructor(
    readonly storage: PlatformStorage,
    private readonly options: ModelCacheOptions,
  ) {}

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /**
   * Runs `section` under the cache's shared lock, where the platform has one ({@link
   * PlatformStorage.exclusive}), then this client's. The shared one is taken first: while another
   * tab holds it, this client's other operations (a load's release check) go on.
   */
  private exclusive<T>(section: () => Promise<T>): Promise<T> {
    return this.shared(() => this.lock.run(section));
  }

  /** Runs `section` under the cache's shared lock only, where the platform has one. */
  private shared<T>(section: () => Promise<T>): Promise<T> {
    return this.storage.exclusive ? this.storage.exclusive(section) : section();
  }

  // --- Release sequence -------------------------------------------------------------------------

  /** The highest release of `model` this device accepted. */
  async highestRelease(model: string): Promise<number | undefined> {
    const value = await this.storage.meta.get<number>(KEY.release(model));
    const stored = typeof value === 'number' ? value : undefined;
    const here = this.releases.get(model);
    return here === undefined || (stored !== undefined && stored > here) ? stored : here;
  }

  /**
   * Checks `release` against the highest accepted before: throws {@link ManifestRollbackError} if
   * it is older, else records it (in memory at once: later checks see it). Resolves once checked,
   * with `persisted`, which settles when the counter is on disk (durably), written once no load
   * runs ({@link afterLoads}).
   */
  acceptRelease(model: string, release: number): Promise<{ persisted: Promise<void> }> {
    return this.lock.run(async () => {
      const highest = await this.highestRelease(model);
      if (highest !== undefined && release < highest) {
        throw new ManifestRollbackError(`release ${release} of "${model}" is older than release ${highest} accepted before`, { model });
      }
      const pending = this.releaseWrites.get(model);
      if (highest === release) return { persisted: pending ?? Promise.resolve() };
      this.releases.set(model, release);
      // Writes of one counter are chained, each writing the highest so far: never reordered.
      const write = (pending ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => this.afterLoads(() => this.writeRelease(model)));
      this.releaseWrites.set(model, write);
      void write.catch(() => undefined).finally(() => {
        if (this.releaseWrites.get(model) === write) this.releaseWrites.delete(model);
      });
      this.inBackground(write);
      return { persisted: write };
    });
  }

  /**
   * Writes the highest release of `model` accepted here, unless the store holds a higher one: another
   * client of the cache (a tab, a worker) may have accepted a newer release meanwhile, and a counter
   * must never go back.
   */
  private writeRelease(model: string): Promise<void> {
    const write = async () => {
      const here = this.releases.get(model)!;
      const stored = await this.storage.meta.get<number>(KEY.release(model));
      if (typeof stored !== 'number' || stored < here) await this.storage.meta.set(KEY.release(model), here);
    };
    // Not under this client's lock: its release checks go on while a counter is written.
    return this.shared(write);
  }

  // --- Installed models ---------------------------------------------------------------------------

  async installed(model: string): Promise<InstalledModel | undefined> {
    await this.waitForInstall(model);
    return this.readInstalled(model);
  }

  /** Waits for the install of `model` behind a load, if any, letting it run now. */
  private async waitForInstall(model: string): Promise<void> {
    const pending = this.pendingInstalls.get(model);
    if (!pending) return;
    pending.expedite();
    await pending.work;
  }

  /** The stored record, not waiting for an install behind a load (for use under the lock, which that install needs). */
  private async readInstalled(model: string): Promise<InstalledModel | undefined> {
    const record = await this.storage.meta.get<InstalledModel>(KEY.installed(model));
    return record && typeof record.sha256 === 'string' && typeof record.jws === 'string' ? record : undefined;
  }

  async listInstalled(): Promise<InstalledModel[]> {
    await Promise.all([...this.pendingInstalls.keys()].map((model) => this.waitForInstall(model)));
    const names = (await this.storage.meta.get<string[]>(KEY.models)) ?? [];
    const records = await Promise.all(names.map((n) => this.readInstalled(n)));
    return records.filter((r): r is InstalledModel => r !== undefined);
  }

  /**
   * Makes `record` the installed model; the artifacts it replaces are deleted unless another model
   * (or `record`'s fallback) uses them. A fallback whose bytes the cache no longer holds is left out;
   * a record whose own bytes it no longer holds (evicted to make room for its fallback's) is
   * installed on its fallback's.
   */
  install(record: InstalledModel): Promise<void> {
    return this.exclusive(() => this.installHeld(record));
  }

  /** {@link install}, under the locks already. */
  private async installHeld(record: InstalledModel): Promise<void> {
    // Two files: read together, written together (a name listed without its record reads as not installed).
    const [previous, listed] = await Promise.all([this.readInstalled(record.model), this.storage.meta.get<string[]>(KEY.models)]);
    const names = listed ?? [];
    if (record.fallback) {
      const index = await this.loadIndex();
      if (!Object.hasOwn(index, record.fallback.sha256)) record = withoutFallback(record);
      else if (!Object.hasOwn(index, record.sha256)) record = onFallback(record, record.fallback);
    }
    await Promise.all([
      this.storage.meta.set(KEY.installed(record.model), record),
      names.includes(record.model) ? undefined : this.storage.meta.set(KEY.models, [...names, record.model]),
    ]);
    const kept = keptBy(record);
    for (const sha of previous ? keptBy(previous) : []) if (!kept.includes(sha)) await this.deleteUnreferenced(sha);
  }

  /**
   * Stores `bytes` (those of `record`, or of its fallback: `sha256`) and installs `record` in one
   * hold of the locks, its use time written too: another tab that needs room meanwhile finds the
   * bytes already installed and just used, not bytes no record names. False when they could not
   * be stored (nothing is installed then).
   */
  storeAndInstall(record: InstalledModel, bytes: Uint8Array, written: ArtifactWriter | null, sha256 = record.sha256): Promise<boolean> {
    const writer = { current: written };
    return this.exclusive(async () => {
      if (!(await this.storeHeld(sha256, bytes, writer, record))) return false;
      await this.installHeld(record);
      // (Bookkeeping: a failed write of the use times does not undo the install.)
      await this.saveIndex().catch(() => undefined);
      return true;
    }).finally(() => writer.current?.abort());
  }

  /**
   * Puts `model` back on its fallback's bytes (as `next.variant` on `next.backend`), with
   * `next.jws` as its manifest and `next.failures` noted (else the record's kept): only if the
   * installed record is still the one signed by `expectedJws` and its fallback's bytes are still
   * held. The bytes it replaces are deleted unless another model uses them. False when nothing changed.
   */
  backToFallback(
    model: string,
    expectedJws: string,
    next: { jws: string; variant: string; backend: string | null; failures?: CandidateFailure[] },
  ): Promise<boolean> {
    return this.exclusive(async () => {
      const record = await this.readInstalled(model);
      const fallback = record?.fallback;
      if (!record || !fallback || record.jws !== expectedJws || !Object.hasOwn(await this.loadIndex(), fallback.sha256)) return false;
      const { failures = record.failures, ...fields } = next;
      await this.storage.meta.set(KEY.installed(model), { ...onFallback(record, fallback), ...fields, failures });
      if (record.sha256 !== fallback.sha256) await this.deleteUnreferenced(record.sha256);
      return true;
    });
  }

  /**
   * Forgets the installed model's fallback (its new bytes ran here) and deletes those bytes unless
   * another model uses them; only if the record is still `ifStill` when given.
   */
  async dropFallback(model: string, ifStill?: InstalledModel): Promise<void> {
    await this.waitForInstall(model);
    return this.exclusive(async () => {
      const record = await this.readInstalled(model);
      if (!record?.fallback || !still(record, ifStill)) return;
      await this.storage.meta.set(KEY.installed(model), withoutFallback(record));
      if (record.fallback.sha256 !== record.sha256) await this.deleteUnreferenced(record.fallback.sha256);
    });
  }

  /**
   * Notes which of the model's bytes the last start ran, `sha256` (its own or its fallback's:
   * {@link InstalledFallback.ranLast}), if that changes anything and the record still holds them.
   */
  async markRan(model: string, sha256: string): Promise<void> {
    await this.waitForInstall(model);
    return this.exclusive(async () => {
      const record = await this.readInstalled(model);
      const fallback = record?.fallback;
      if (!record || !fallback || fallback.sha256 === record.sha256) return;
      const ranLast = sha256 === fallback.sha256 ? true : sha256 === record.sha256 ? false : undefined;
      if (ranLast === undefined || (fallback.ranLast ?? false) === ranLast) return;
      await this.storage.meta.set(KEY.installed(model), { ...record, fallback: { ...fallback, ranLast } });
    });
  }

  /**
   * Stores `bytes` (see {@link store}) and installs `record` behind the load that returned the
   * model already, once no load is running ({@link afterLoads}); nothing is installed when the
   * bytes could not be stored, or when `check` fails. {@link installed} and {@link listInstalled} wait for it, {@link settle} too.
   * The bytes are the record's own, or those of its fallback (`of`).
   */
  installBehind(
    record: InstalledModel,
    bytes: Uint8Array | null,
    how: { written?: ArtifactWriter | null; check?: () => Promise<void>; of?: { sha256: string; size: number } } = {},
  ): void {
    const { written = null, check, of = record } = how;
    const previous = this.pendingInstalls.get(record.model);
    // Only bytes whose SHA-256 was checked whole (not those still to be hashed behind a block check).
    if (bytes && !check) this.pendingBytes.set(of.sha256, bytes);
    let expedite: () => void = () => undefined;
    const urgent = new Promise<void>((resolve) => (expedite = resolve));
    const work: Promise<void> = (previous?.work ?? Promise.resolve())
      .then(() => Promise.race([this.loadsDone(), urgent]))
      // Bytes checked block by block are hashed whole before they are stored: a failed check stores nothing.
      .then(() => check?.())
      // Bytes handed to a worker meanwhile (onnxruntime-web's proxy transfers them) are gone: nothing to store.
      .then(async () => {
        if (!bytes) return this.install(record);
        if (bytes.byteLength !== of.size) return written?.abort();
        // What the record replaces goes anyway: it makes room before another model's bytes do.
        await this.storeAndInstall(record, bytes, written, of.sha256);
      })
      // (A writer not committed, the check failed say, is dropped; one committed is done with already.)
      .catch(() => written?.abort())
      .catch(() => undefined)
      .finally(() => {
        if (this.pendingInstalls.get(record.model)?.work === work) this.pendingInstalls.delete(record.model);
        if (bytes && this.pendingBytes.get(of.sha256) === bytes) this.pendingBytes.delete(of.sha256);
      });
    // Expediting this one expedites the one it waits for too.
    this.pendingInstalls.set(record.model, {
      work,
      expedite: () => {
        previous?.expedite();
        expedite();
      },
    });
    this.inBackground(work);
  }

  /** Updates the installed record in place (backend that worked, failures, manifest); only if it is still `ifStill` when given. */
  async updateInstalled(model: string, patch: Partial<Pick<InstalledModel, 'backend' | 'failures' | 'jws'>>, ifStill?: InstalledModel): Promise<void> {
    await this.waitForInstall(model);
    return this.exclusive(async () => {
      const record = await this.readInstalled(model);
      if (record && still(record, ifStill)) await this.storage.meta.set(KEY.installed(model), { ...record, ...patch });
    });
  }

  /**
   * Removes a model and its artifact (unless shared); only if it is still `ifStill` when given (a
   * record found corrupt, which another tab may have replaced since). The release counter stays:
   * rollback protection outlives the cache.
   */
  async uninstall(model: string, ifStill?: InstalledModel): Promise<boolean> {
    await this.waitForInstall(model);
    return this.exclusive(async () => {
      const record = await this.readInstalled(model);
      if (record && !still(record, ifStill)) return false;
      await this.storage.meta.delete(KEY.installed(model));
      const names = (await this.storage.meta.get<string[]>(KEY.models)) ?? [];
      if (names.includes(model)) await this.storage.meta.set(KEY.models, names.filter((n) => n !== model));
      for (const sha of record ? keptBy(record) : []) await this.deleteUnreferenced(sha);
      return record !== undefined;
    });
  }

  // --- Artifacts -------------------------------------------------------------------------------------

  /**
   * The artifact's bytes, checked again against the expected length and SHA-256. A corrupt entry
   * is deleted and reported as {@link CacheCorruptError}: it is never returned. With `pending`, a
   * load's: bytes an install behind another load is about to store (verified whole by their
   * download, not read back), marked `pending`; whoever takes them stores them too.
   */
  async read(sha256: string, size: number, model?: string, options: { pending?: boolean } = {}): Promise<CachedArtifact> {
    const pending = options.pending ? this.pendingBytes.get(sha256) : undefined;
    if (pending && pending.byteLength === size) return { bytes: pending, pending: true };
    const { artifacts } = this.storage;
    const create = this.options.createSha256;
    let bytes: Uint8Array | undefined;
    let actual: string | null;
    if (artifacts.matchHashing && create) {
      // Hashed while read: every byte returned went through the hasher.
      const hasher = create();
      bytes = await artifacts.matchHashing(sha256, hasher);
      if (!bytes) return { missing: true };
      actual = bytes.byteLength === size ? hasher.digestHex() : null;
    } else {
      bytes = await artifacts.match(sha256);
      if (!bytes) return { missing: true };
      actual = bytes.byteLength === size ? await sha256Hex(bytes, create) : null;
    }
    if (actual !== sha256) {
      await this.exclusive(async () => {
        await this.storage.artifacts.delete(sha256);
        const index = await this.loadIndex();
        delete index[sha256];
        await this.saveIndex();
      });
      const why = actual === null ? `${bytes.byteLength} bytes instead of ${size}` : `SHA-256 ${actual}`;
      throw new CacheCorruptError(`the cached artifact ${sha256} is corrupt (${why}); it was discarded`, { model });
    }
    // The use time only orders evictions: written behind the load (cache operations stay in order).
    this.inBackground(this.afterLoads(() => this.touch(sha256)));
    return { bytes };
  }

  /** True when the cache holds the artifact `sha256` (by its index; a read still verifies it). */
  async holds(sha256: string, options: { pending?: boolean } = {}): Promise<boolean> {
    if (options.pending && this.pendingBytes.has(sha256)) return true;
    const index = await this.lock.run(() => this.loadIndex());
    return Object.hasOwn(index, sha256);
  }

  /** Starts reading the index (listing the store), so that a {@link holds} soon after need not wait for the disk. */
  preloadIndex(): void {
    if (!this.index) this.inBackground(this.lock.run(() => this.loadIndex()));
  }

  /** A writer to store `sha256` while it downloads, when the platform has one and it fits the budget. */
  writer(sha256: string, size: number): ArtifactWriter | null {
    if (size > this.options.maxBytes || !this.storage.artifacts.writer) return null;
    // The index is needed to make room; loaded now, while the bytes download.
    this.inBackground(this.lock.run(() => this.loadIndex()));
    return this.storage.artifacts.writer(sha256, size);
  }

  /** Waits for writes left running in the background. */
  async settle(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  /**
   * Marks a load as running until the returned function is called. While any runs, writes that
   * can wait ({@link afterLoads}) do: on a device with few cores, disk writes during a load's
   * download and session creation cost it more than they save.
   */
  hold(): () => void {
    if (this.loadsRunning++ === 0) this.gate = new Promise((resolve) => (this.openGate = resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.loadsRunning === 0) this.openGate();
    };
  }

  /**
   * Runs `work` once no load is running (at once when none is), or after {@link MAX_DEFER_MS} at
   * the latest: a long download of another model does not keep an install or a release counter
   * off the disk for its whole length.
   */
  afterLoads<T>(work: () => Promise<T>): Promise<T> {
    return this.loadsRunning === 0 ? work() : this.loadsDone().then(work);
  }

  /** Settles when no load is running, or after {@link MAX_DEFER_MS}. */
  private loadsDone(): Promise<void> {
    if (this.loadsRunning === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, MAX_DEFER_MS);
      (timer as { unref?: () => void }).unref?.();
      void this.gate.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Runs `work` behind the caller: errors dropped, awaited by {@link settle}. */
  inBackground(work: Promise<unknown>): void {
    const tracked = work.catch(() => undefined).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  /**
   * Stores verified bytes within the byte budget, evicting artifacts if room is needed (see
   * {@link evict}; again when the platform reports its quota exceeded). `installing`: the record the
   * bytes are stored for, the bytes it replaces go first. False when the artifact alone is larger
   * than the budget or the storage is full of nothing evictable. The client stores downloads
   * with {@link storeAndInstall}; this stores bytes alone, no record naming them (the tests drive
   * the budget and eviction through it).
   */
  store(sha256: string, bytes: Uint8Array, written?: ArtifactWriter | null, installing?: InstalledModel): Promise<boolean> {
    const writer = { current: written ?? null };
    return this.exclusive(() => this.storeHeld(sha256, bytes, writer, installing)).finally(() => writer.current?.abort());
  }

  /** {@link store}, under the locks already; `writer.current` is emptied once committed (else the caller aborts it). */
  private async storeHeld(sha256: string, bytes: Uint8Array, writer: { current: ArtifactWriter | null }, installing?: InstalledModel): Promise<boolean> {
    const size = bytes.byteLength;
    if (size > this.options.maxBytes) return false;
    // Listed again: another tab or process on the same cache may have stored (or evicted) since.
    const index = await this.loadIndex({ fresh: true });
    if (index[sha256]) {
      index[sha256].lastUsed = this.stamp();
      await this.saveIndex();
      if (await this.storage.artifacts.match(sha256).then((b) => b?.byteLength === size)) return true;
    }
    await this.evictUntil(this.options.maxBytes - size, sha256, installing);
    // Bytes already written while they downloaded are just committed; else (or if that fails) written now.
    let stored = false;
    const written = writer.current;
    if (written) {
      writer.current = null;
      stored = await written.commit().then(
        () => true,
        () => false,
      );
    }
    while (!stored) {
      try {
        await this.storage.artifacts.put(sha256, bytes);
        stored = true;
      } catch (err) {
        if ((err as { name?: string }).name !== 'QuotaExceededError') throw err;
        if (!(await this.evict(sha256, 1))) return false;
      }
    }
    index[sha256] = { size, lastUsed: this.stamp() };
    // The index is bookkeeping (sizes are listed again from the store on open): written behind.
    this.inBackground(this.saveIndex());
    return true;
  }

  /** Bytes used by cached artifacts. */
  async usedBytes(): Promise<number> {
    const index = await this.lock.run(() => this.loadIndex());
    return Object.values(index).reduce((sum, a) => sum + a.size, 0);
  }

  private touch(sha256: string): Promise<void> {
    return this.exclusive(async () => {
      const index = await this.loadIndex();
      const entry = index[sha256];
      if (entry) {
        entry.lastUsed = this.stamp();
        await this.saveIndex();
      }
    });
  }

  /** A use time, strictly increasing so that uses within one millisecond keep their order. */
  private stamp(): number {
    this.lastStamp = Math.max(this.options.now(), this.lastStamp + 1);
    return this.lastStamp;
  }

  private async evictUntil(limit: number, keep: string, installing?: InstalledModel): Promise<void> {
    const index = await this.loadIndex();
    const used = Object.values(index).reduce((sum, a) => sum + a.size, 0);
    // (What `installing` replaces is read only when room is needed.)
    if (used > limit) await this.evict(keep, used - limit, installing && (await this.replacedBy(installing)));
  }

  /** The installed bytes of `record.model` that `record` no longer keeps: evicted first if storing its bytes needs room. */
  private async replacedBy(record: InstalledModel): Promise<Going> {
    const before = await this.readInstalled(record.model);
    return { model: record.model, shas: before ? keptBy(before).filter((sha) => !keptBy(record).includes(sha)) : [] };
  }

  /**
   * Evicts artifacts other than `keep` until at least `bytes` are freed, or all others are gone:
   * first the bytes an install about to follow replaces (`going`), then the spare one of a model
   * that holds two (its fallback's, or its own when the last start ran the fallback's:
   * {@link InstalledFallback.ranLast}), then the least recently used; never before those, bytes
   * another model runs on. A model whose own bytes go runs on its fallback's. The installed records
   * are read once, whatever the number evicted. Returns the bytes freed (0 if none).
   */
  private async evict(keep: string, bytes: number, going?: Going): Promise<number> {
    const index = await this.loadIndex();
    const names = (await this.storage.meta.get<string[]>(KEY.models)) ?? [];
    const records = await Promise.all(names.map((name) => this.readInstalled(name)));
    // (Only of pairs: bytes no record names may be a download stored just before its install.)
    // Each record's spare bytes and the ones it runs on; bytes another model runs on are not spare.
    const spares = new Set<string>();
    const needed = new Set<string>();
    for (const r of records) {
      if (!r) continue;
      const fallback = r.fallback && r.fallback.sha256 !== r.sha256 ? r.fallback : null;
      if (fallback) spares.add(fallback.ranLast ? r.sha256 : fallback.sha256);
      needed.add(fallback?.ranLast ? fallback.sha256 : r.sha256);
    }
    const elsewhere = new Set(records.flatMap((r) => (r && r.model !== going?.model ? keptBy(r) : [])));
    const replaced = new Set(going?.shas.filter((sha) => !elsewhere.has(sha)));
    const spare = (sha: string) => (replaced.has(sha) ? 0 : spares.has(sha) && !needed.has(sha) ? 1 : 2);
    const order = Object.entries(index)
      .filter(([sha]) => sha !== keep)
      .sort((a, b) => spare(a[0]) - spare(b[0]) || a[1].lastUsed - b[1].lastUsed);
    const gone = new Set<string>();
    let freed = 0;
    for (const [sha, entry] of order) {
      if (freed >= bytes) break;
      await this.storage.artifacts.delete(sha);
      delete index[sha];
      gone.add(sha);
      freed += Math.max(entry.size, 1);
    }
    if (!gone.size) return 0;
    await this.saveIndex();
    // A model whose bytes are gone runs on its fallback's if they are held, else is no longer
    // installed (its release counter stays); one whose fallback's bytes are gone keeps no fallback.
    const kept: string[] = [];
    for (const [i, name] of names.entries()) {
      const record = records[i];
      const fallback = record?.fallback;
      if (record && gone.has(record.sha256)) {
        if (fallback && !gone.has(fallback.sha256)) {
          await this.storage.meta.set(KEY.installed(name), onFallback(record, fallback));
          kept.push(name);
          continue;
        }
        await this.storage.meta.delete(KEY.installed(name));
        continue;
      }
      if (record && fallback && gone.has(fallback.sha256)) await this.storage.meta.set(KEY.installed(name), withoutFallback(record));
      kept.push(name);
    }
    if (kept.length !== names.length) await this.storage.meta.set(KEY.models, kept);
    return freed;
  }

  private async deleteUnreferenced(sha256: string): Promise<void> {
    const names = (await this.storage.meta.get<string[]>(KEY.models)) ?? [];
    for (const name of names) {
      const record = await this.readInstalled(name);
      if (record && keptBy(record).includes(sha256)) return;
    }
    await this.storage.artifacts.delete(sha256);
    const index = await this.loadIndex();
    if (index[sha256]) {
      delete index[sha256];
      await this.saveIndex();
    }
  }

  /** The artifact index, reconciled with what the store really holds on first use. */
  private async loadIndex(options: { fresh?: boolean } = {}): Promise<Record<string, IndexedArtifact>> {
    if (this.index && !options.fresh) return this.index;
    const known = this.index ?? {};
    // The use times and the listing come from different stores: read side by side.
    const [used, listed] = await Promise.all([this.storage.meta.get<Record<string, IndexedArtifact>>(KEY.artifacts), this.storage.artifacts.list()]);
    const stored = used ?? {};
    const index: Record<string, IndexedArtifact> = {};
    for (const { key, size } of listed) {
      index[key] = { size, lastUsed: Math.max(stored[key]?.lastUsed ?? 0, known[key]?.lastUsed ?? 0) };
    }
    this.index = index;
    this.lastStamp = Math.max(this.lastStamp, ...Object.values(index).map((a) => a.lastUsed));
    return index;
  }

  /**
   * Writes the index as it is when the write starts. Writes never overlap (the newest lands
   * last); a call while one is queued shares it.
   */
  private saveIndex(): Promise<void> {
    if (!this.queuedSave) {
      const save = this.lastSave.then(() => {
        this.queuedSave = null;
        return this.index ? this.storage.meta.set(KEY.artifacts, this.index) : undefined;
      });
      this.queuedSave = save;
      this.lastSave = save.catch(() => undefined);
    }
    return this.queuedSave;
  }
}
