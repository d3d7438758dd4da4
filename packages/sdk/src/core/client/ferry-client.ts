import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Device, ManifestCandidate, ManifestPayload, ResolveRequest } from '@ferry/protocol';
import { ModelCache, type CachedArtifact, type InstalledFallback, type InstalledModel } from '../cache/model-cache.js';
import { memoryStorage } from '../cache/memory-storage.js';
import { deviceCapabilities, freezeCapabilities } from '../capabilities.js';
import { ArtifactDownloader, type DownloadedArtifact, type DownloadProgress } from '../download/artifact-download.js';
import {
  BackendUnavailableError,
  CacheCorruptError,
  DownloadAbortedError,
  DownloadError,
  DownloadSkippedError,
  FerryError,
  IntegrityError,
  isTransientError,
  isVerificationError,
  type CandidateFailure,
} from '../errors.js';
import { preloadStreamingSha256, sha256HexInSlices } from '../hash/sha256.js';
import { FerryApi } from '../http/ferry-api.js';
import type { HttpFetch } from '../http/transport.js';
import { DEFAULT_RETRY, untilAborted } from '../http/retry.js';
import { createOrtRuntime } from '../inference/ort-runtime.js';
import { warmUpFeeds, type InferenceRuntime, type ModelSession } from '../inference/runtime.js';
import { SessionPool } from '../inference/session-pool.js';
import { KeyRing } from '../manifest/key-ring.js';
import { ManifestVerifier, type AudienceCheck, type VerifiedManifest } from '../manifest/manifest-verifier.js';
import type { NativeJwsCheck } from '../manifest/native-check.js';
import type { ArtifactWriter, Capabilities, Platform, Pixels, PlatformStorage, QuickStore, StorageOptions } from '../platform.js';
import { randomId } from '../random-id.js';
import { TelemetryClient, type TelemetryRecord } from '../telemetry/telemetry-client.js';
import { SDK_VERSION } from '../version.js';
import { ModelHandle } from './model-handle.js';
import type {
  CacheInfo,
  CachedModelInfo,
  CoreFerryOptions,
  DownloadConditions,
  Ferry,
  FerryModel,
  GetModelOptions,
  ModelUpdate,
  PrefetchOptions,
} from './public-types.js';

const DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024;
/** Larger candidates are not fetched before their manifest is verified. */
const MAX_SPECULATIVE_BYTES = 2 * 1024 * 1024 * 1024;
const INSTALL_ID_KEY = 'install-id';

/** One download of some bytes, shared by every caller that needs them (see FerryClient.download). */
interface SharedDownload {
  /**
   * Another caller: resolves with the download, or rejects at once when this caller's signal
   * aborts. The download itself stops only when every caller has aborted (or `how.abort` fires).
   */
  join(options: { signal?: AbortSignal | undefined; onProgress?: ((progress: DownloadProgress) => void) | undefined }): Promise<Download>;
}

/** Verified bytes, and the cache writer that already holds them (when the platform has one). */
interface Download extends DownloadedArtifact {
  written: ArtifactWriter | null;
}

/** The cache and key ring: all a load from the cache needs. */
interface Opened {
  cache: ModelCache;
  storage: PlatformStorage;
}

interface Ready extends Opened {
  telemetry: TelemetryClient;
  installId: string;
}

interface LoadOptions extends GetModelOptions {
  /** The installed model, served instead when the network fails or conditions forbid a download. */
  fallback?: InstalledModel | undefined;
  /**
   * What is installed for this model, as read when the load began (or again after it failed to
   * open): candidates that failed here in its release and version are skipped.
   */
  installed?: InstalledModel | undefined;
}

/**
 * A resolve sent before the cache was open (see {@link FerryClient.earlyResolve}). `manifest` is
 * undefined when the answer cannot be used (it was for another install id): the load resolves as
 * usual then. A download it would start ahead waits for `decide`: the load's options once it
 * knows it will fetch this manifest (the download is then that load's), null when it will not.
 */
interface EarlyResolve {
  manifest: Promise<VerifiedManifest | undefined>;
  decide(load: LoadOptions | null): void;
}

/** A download started ahead of its manifest's verification ({@link FerryClient.speculate}). */
interface Speculation {
  /** The manifest failed: the download stops for every load that joined it. */
  cancel(): void;
  /** The manifest verified: the download hands its bytes on; nothing more starts ahead. */
  stop(): void;
  /** The load gave up while its manifest was checked: loads that joined get the bytes if `verifying` succeeds. */
  orphan(verifying: Promise<unknown>): void;
  /** Settles once the download's request is on its way, or once it is known that none starts. */
  requested: Promise<void>;
}

/**
 * Runs `fn` after the current task (Node: `setImmediate`), so that a request handed to `node:http`
 * is written first (on a kept-alive socket Node writes it in a tick of its own). Elsewhere after
 * the current microtasks: `fetch` sends from a thread of its own, and a hidden page's timers wait
 * up to a second.
 */
const nextTask = (fn: () => void): void => void (typeof setImmediate === 'function' ? setImmediate(fn) : queueMicrotask(fn));

/** The answer of an early resolve for an install id that turned out not to be the device's. */
class AnswerDropped extends Error {}

/** A download started ahead of a manifest that then failed its check ({@link FerryClient.speculate}). */
class RefusedAhead extends DownloadAbortedError {}

const isInstallId = (id: unknown): id is string => typeof id === 'string' && id.length >= 8 && id.length <= 128;

/** Whether the device has `backend` this start and the runtime runs it. */
function backendHere(backend: string, caps: Capabilities, runtime: InferenceRuntime): boolean {
  return caps.backends.includes(backend) && runtime.supports(backend);
}

/** Why a candidate cannot be used here before anything is downloaded; null when it can. */
function staticRejection(candidate: ManifestCandidate, caps: Capabilities, runtime: InferenceRuntime): string | null {
  if (!caps.formats.includes(candidate.format)) return `format "${candidate.format}" is not supported here`;
  if (!backendHere(candidate.backend, caps, runtime)) return `backend "${candidate.backend}" is not available here`;
  const missing = (candidate.requires?.features ?? []).filter((f) => !caps.features.includes(f));
  if (missing.length) return `needs ${missing.join(', ')}`;
  const minMemory = candidate.requires?.minMemoryMB;
  if (minMemory !== undefined && caps.memoryMB !== undefined && caps.memoryMB < minMemory) return `needs ${minMemory} MB of memory`;
  return null;
}

const failureKey = (f: { variant: string; backend: string }) => `${f.variant}|${f.backend}`;
/**
 * True when `installed` holds the release and version of `payload`: the failures it keeps are of
 * the same candidates (a release can serve another version to the same device, whose variants
 * have the same names and other bytes).
 */
function sameModel(installed: InstalledModel | undefined, payload: { release: number; version: number }): installed is InstalledModel {
  return installed !== undefined && installed.release === payload.release && installed.version === payload.version;
}

/** A cache key that can be an artifact's: a SHA-256 in hex (a record holding anything else is not read). */
const SHA256_KEY = /^[0-9a-f]{64}$/;
/** Whether `c` is the artifact `bytes` (same SHA-256 and length). */
const sameBytes = (c: { sha256: string; size: number }, bytes: { sha256: string; size: number }) => c.sha256 === bytes.sha256 && c.size === bytes.size;
/** Failed candidates a resolve request names at most (the protocol's limit). */
const MAX_FAILED_SENT = 64;
/** The reason of a candidate skipped because it failed here earlier in the same release and version. */
const FAILED_BEFORE = 'failed to load here before';
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 1000);

/** The device feature that asks the server for block digests (`BLOCK_DIGESTS_FEATURE` of `@ferry/protocol`, kept here to keep schemas out of bundles). */
const BLOCK_DIGESTS = 'block-digests';
/** Features a resolve request may list (the protocol's `maxItems`): past it, no block digests are asked for. */
const MAX_FEATURES = 64;

/**
 * The Ferry client over a platform adapter, checking manifests with `nativeCheck` where given
 * (see `createFerry` in `create-ferry.ts`, which makes it from the platform's `verifyEd25519`).
 * The browser entry calls this directly: browsers have no native check, and their bundles leave its code out.
 */
export function createFerryClient(options: CoreFerryOptions, nativeCheck?: NativeJwsCheck): Ferry {
  return new FerryClient(options, nativeCheck);
}

class FerryClient implements Ferry {
  private readonly platform: Platform;
  private readonly api: FerryApi;
  private readonly verifier: ManifestVerifier;
  private readonly downloader: ArtifactDownloader;
  private readonly runtime: InferenceRuntime;
  private readonly sessions = new SessionPool();
  private readonly updates = new Map<string, Promise<ModelUpdate>>();
  /** Aborted by `close()`: background updates stop with it. */
  private readonly closing = new AbortController();
  /** Downloads under way, by SHA-256: every load that needs the same bytes joins the one download. */
  private readonly downloads = new Map<string, SharedDownload>();
  /** Failures that say what the device or the network is now, not how a candidate behaved ({@link installedRecord}). */
  private readonly situational = new WeakSet<CandidateFailure>();
  /** Downloads started before their manifest was verified (see {@link speculate}), by SHA-256, for the load that follows. */
  private readonly speculative = new Map<string, { owner: object; download: Promise<Download> }>();
  /** The durable write of each accepted manifest's release (see {@link ModelCache.acceptRelease}). */
  private readonly releasePersisted = new WeakMap<VerifiedManifest, Promise<void>>();
  private readonly opened: Promise<Opened>;
  private readonly ready: Promise<Ready>;
  private caps: Promise<Readonly<Capabilities>> | null = null;
  /** The probed capabilities, once known. */
  private capsKnown: Readonly<Capabilities> | null = null;
  private keyRing: KeyRing | null = null;
  private telemetryClient: TelemetryClient | null = null;
  /** The platform's quick store and the install id it holds (a new one there on a first start). */
  private readonly quick: { store: QuickStore; id: string; firstStart: boolean } | null;
  private cacheOpen = false;

  constructor(
    private readonly options: CoreFerryOptions,
    nativeCheck?: NativeJwsCheck,
  ) {
    const { platform } = options;
    if (!options.serverUrl) throw new TypeError('createFerry needs serverUrl');
    if (!options.appKey) throw new TypeError('createFerry needs appKey');
    if (!options.trustedKeys && !options.jwksUrl) throw new TypeError('createFerry needs trustedKeys or jwksUrl to verify manifests');
    this.platform = platform;
    const fetchFn: HttpFetch = options.fetch ?? platform.http ?? platform.fetch;
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    this.api = new FerryApi({
      serverUrl: options.serverUrl,
      appKey: options.appKey,
      fetch: fetchFn,
      retry,
      requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
      now: () => platform.now(),
      network: () => platform.network(),
    });
    this.downloader = new ArtifactDownloader({
      fetch: fetchFn,
      fetchInit: platform.artifactFetchInit,
      retry,
      stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
      monotonic: () => platform.monotonic(),
      now: () => platform.now(),
      createSha256: platform.createSha256?.bind(platform),
      blockSha256: platform.blockSha256?.bind(platform),
      byob: platform.byobDownloads,
      allocate: platform.uninitializedBytes?.bind(platform),
      connectionError: (url, cause, timedOut, model) => this.api.connectionError(url, cause, timedOut, model),
    });
    this.runtime =
      options.runtime ??
      createOrtRuntime(() => {
        if (!platform.loadOrt) throw new Error('this platform cannot load onnxruntime-web: pass ort.module');
        return platform.loadOrt();
      }, options.ort);
    // The verifier's key ring needs the meta store: it is made in `open`, the verifier reads it lazily.
    this.verifier = new ManifestVerifier({
      keys: {
        keySets: () => this.keys().then((k) => k.keySets()),
        refresh: () => this.keys().then((k) => k.refresh()),
      },
      audience: this.audienceCheck(),
      now: () => platform.now(),
      clockSkewSeconds: options.clockSkewSeconds ?? 60,
      ...(nativeCheck ? { nativeCheck } : {}),
    });
    // Probing (GPU adapter, storage estimate) overlaps with opening the cache. It is asked first:
    // a resolve waits for it, and the storage estimate would otherwise queue behind the cache's
    // first requests to the same storage backend (~2 ms of a first load in Chromium here).
    this.capabilities().catch(() => undefined);
    this.quick = this.openQuick();
    this.opened = this.open();
    void this.opened.then(
      () => (this.cacheOpen = true),
      () => undefined,
    );
    this.ready = this.opened.then((opened) => this.start(opened));
    this.ready.catch(() => undefined);
  }

  /** The cache the client keeps on the platform's own storage; null with `cache: false` or the app's own storage. */
  private platformCache(): StorageOptions | null {
    const { cache } = this.options;
    return cache === false || cache?.storage ? null : { namespace: cache?.namespace ?? 'default', location: cache?.location };
  }

  /** Opens the cache and makes the key ring. */
  private async open(): Promise<Opened> {
    const { options, platform } = this;
    const cacheOptions = options.cache === false ? null : (options.cache ?? {});
    // Storage that cannot be opened (read-only disk, blocked IndexedDB) leaves the app working, uncached.
    const where = this.platformCache();
    const storage = where ? await platform.openStorage(where).catch(() => memoryStorage()) : (cacheOptions?.storage ?? memoryStorage());
    if (cacheOptions?.persist) void platform.persistStorage?.().catch(() => false);
    const cache = new ModelCache(storage, {
      maxBytes: cacheOptions?.maxBytes ?? DEFAULT_CACHE_BYTES,
      now: () => platform.now(),
      createSha256: platform.createSha256?.bind(platform),
    });
    // The app's first getModel usually follows createFerry at once: writes wait for it (see ModelCache.hold).
    const first = cache.hold();
    setTimeout(first, 0);
    this.keyRing = new KeyRing({ trustedKeys: options.trustedKeys, jwksUrl: options.jwksUrl, api: this.api, meta: storage.meta, now: () => platform.now() });
    return { cache, storage };
  }

  /**
   * The install id as the platform's quick store holds it, read at once; none there means the
   * device's first start, and a new id is kept there. Null without a quick store, or when the app
   * brings its own storage or keeps no cache (the quick store would not belong to it).
   */
  private openQuick(): { store: QuickStore; id: string; firstStart: boolean } | null {
    const where = this.platformCache();
    if (!where || !this.platform.openQuickStore) return null;
    try {
      const store = this.platform.openQuickStore(where);
      if (!store) return null;
      const id = store.get(INSTALL_ID_KEY);
      if (isInstallId(id)) return { store, id, firstStart: false };
      const fresh = randomId();
      store.set(INSTALL_ID_KEY, fresh);
      return { store, id: fresh, firstStart: true };
    } catch {
      return null;
    }
  }

  /** Then the install id and telemetry (a load from the cache does not wait for them). */
  private async start({ cache, storage }: Opened): Promise<Ready> {
    const { options, platform, quick } = this;
    const stored = await storage.meta.get<string>(INSTALL_ID_KEY);
    // The meta store is the record; a new install keeps the id the quick store was given.
    const installId = isInstallId(stored) ? stored : (quick?.id ?? randomId());
    if (installId !== stored) {
      // Kept behind the first request (close() waits for it): until it is written, this process knows it.
      cache.inBackground(cache.afterLoads(() => storage.meta.set(INSTALL_ID_KEY, installId)));
    } else if (quick && quick.id !== installId) {
      quick.store.set(INSTALL_ID_KEY, installId); // The quick store's copy follows the record (a best-effort write).
    }
    const telemetryOptions = options.telemetry === false ? { enabled: false } : (options.telemetry ?? {});
    const telemetry = new TelemetryClient({
      ...telemetryOptions,
      api: this.api,
      meta: storage.meta,
      exclusive: storage.exclusive?.bind(storage),
      now: () => platform.now(),
      onHide: platform.onHide?.bind(platform),
      device: async () => {
        const caps = await this.capabilities();
        return {
          id: installId,
          platform: caps.platform,
          ...(caps.os ? { os: caps.os.slice(0, 64) } : {}),
          ...(options.app?.version ? { appVersion: options.app.version } : {}),
          sdk: { version: SDK_VERSION },
        };
      },
    });
    this.telemetryClient = telemetry;
    telemetry.start();
    return { cache, storage, telemetry, installId };
  }

  /**
   * Manifests name the app key they were issued to (`aud`): the one this app ships with, or
   * its id (`ak_…`) when the app gives `appKeyId`. Any other audience is refused (mix-and-match).
   */
  private audienceCheck(): AudienceCheck {
    const { appKey, appKeyId } = this.options;
    return { accepts: async (aud) => aud === appKey || (appKeyId !== undefined && aud === appKeyId) };
  }

  private async keys(): Promise<KeyRing> {
    await this.opened;
    return this.keyRing!;
  }

  /** The platform's provisional capabilities while the probe runs ({@link Platform.provisionalCapabilities}); the probe's otherwise. */
  private provisionalCaps(): Promise<Readonly<Capabilities>> {
    const provisional = this.platform.provisionalCapabilities;
    if (this.capsKnown || !provisional) return this.capabilities();
    try {
      return Promise.resolve(provisional.call(this.platform, { runtimeSupports: (backend) => this.runtime.supports(backend) }));
    } catch {
      return this.capabilities();
    }
  }

  capabilities(): Promise<Readonly<Capabilities>> {
    this.caps ??= this.probe();
    return this.caps;
  }

  /** The platform's probe, told which cache the client keeps on its storage (its free space counts). */
  private probe(): Promise<Readonly<Capabilities>> {
    const storage = this.platformCache();
    return this.platform
      .probeCapabilities({ runtimeSupports: (backend) => this.runtime.supports(backend), ...(storage ? { storage } : {}) })
      .then((caps) => (this.capsKnown = freezeCapabilities(caps)));
  }

  get telemetry(): Ferry['telemetry'] {
    const ready = this.ready;
    const client = () => this.telemetryClient;
    return {
      get enabled() {
        return client()?.isEnabled ?? false;
      },
      setEnabled: async (enabled) => (await ready).telemetry.setEnabled(enabled),
      flush: async () => (await ready).telemetry.flush(),
    };
  }

  private report(event: TelemetryRecord): void {
    if (this.telemetryClient) this.telemetryClient.record(event);
    else void this.ready.then(({ telemetry }) => telemetry.record(event), () => undefined);
  }

  private reportFailure(model: string, err: unknown, extra: Partial<TelemetryRecord> = {}): void {
    if (err instanceof DownloadAbortedError) return;
    const code = err instanceof FerryError ? err.code : 'internal_error';
    this.report({ type: isVerificationError(err) ? 'verify_failure' : 'error', model, code, message: messageOf(err), ...extra });
  }

  /**
   * The device description of resolve requests; `installId` when it is known before the cache is
   * open. `provisional`: while the probe runs, the platform's provisional capabilities (a superset)
   * describe the device instead of waiting for it ({@link Platform.provisionalCapabilities}).
   */
  private async device(installId?: string, provisional = false): Promise<Device> {
    const [caps, id] = await Promise.all([provisional ? this.provisionalCaps() : this.capabilities(), installId ?? this.ready.then((r) => r.installId)]);
    const app = this.options.app ?? {};
    return {
      id,
      platform: caps.platform,
      ...(caps.os ? { os: caps.os.slice(0, 64) } : {}),
      ...(app.version ? { appVersion: app.version } : {}),
      ...(app.country ? { country: app.country } : {}),
      ...(app.deviceClass ? { deviceClass: app.deviceClass } : {}),
      sdk: { version: SDK_VERSION },
      ...(caps.runtime ? { runtime: { name: caps.runtime.name.slice(0, 64), version: caps.runtime.version.slice(0, 32) } } : {}),
      capabilities: {
        ...deviceCapabilities(caps),
        backends: caps.backends.filter((b) => this.runtime.supports(b)),
        // Manifests list block digests only for devices that check blocks.
        ...(this.platform.blockSha256 && !caps.features.includes(BLOCK_DIGESTS) && caps.features.length < MAX_FEATURES
          ? { features: [...caps.features, BLOCK_DIGESTS] }
          : {}),
      },
    };
  }

  // --- Public API ---------------------------------------------------------------------------------

  async getModel(name: string, options: GetModelOptions = {}): Promise<FerryModel> {
    const early = this.earlyResolve(name, options);
    try {
      const { cache } = await this.opened;
      // Cache writes wait while the model loads (its download and session creation go first).
      const release = cache.hold();
      try {
        return await this.loadModel(name, options, cache, early);
      } finally {
        release();
      }
    } finally {
      // Not taken (a model was installed after all, or the load failed first): nothing more starts from it.
      early?.decide(null);
    }
  }

  /**
   * On a device's first start (no install id in the platform's quick store) nothing is cached, so
   * a load will ask the server: one that starts before the cache is open sends its resolve at once
   * instead of after the cache opened (IndexedDB and OPFS in browsers), under the id it will keep.
   * It sends no `cached` (the server cannot answer 304). Its manifest is verified as always, and
   * the load takes it once it has read the cache ({@link loadModel}).
   *
   * An empty quick store can also mean it was cleared (an app's `localStorage.clear()`) or refuses
   * writes, while the cache keeps an install id. The request then went out under another device id
   * (another rollout bucket): it is stopped, or its answer dropped unchecked and unreported, and
   * the load resolves as usual, under the cache's id and with what the cache holds. Not for
   * `local` loads, which must not touch the network when a model is cached. Null otherwise.
   */
  private earlyResolve(name: string, options: GetModelOptions): EarlyResolve | null {
    const quick = this.quick;
    if (!quick?.firstStart || this.cacheOpen || options.policy === 'local') return null;
    // Stopped when the load does not take it, the caller aborts, the client closes, or the id is not the device's.
    const controller = new AbortController();
    const stop = () => controller.abort();
    const signals = [options.signal, this.closing.signal].filter((s): s is AbortSignal => s !== undefined);
    for (const s of signals) {
      if (s.aborted) stop();
      else s.addEventListener('abort', stop, { once: true });
    }
    const sameId = this.ready.then(
      ({ installId }) => installId === quick.id,
      () => false,
    );
    void sameId.then((same) => same || stop());
    let settle: (load: LoadOptions | null) => void = () => undefined;
    const owner = new Promise<LoadOptions | null>((resolve) => (settle = resolve));
    const manifest = this.resolveManifest(name, undefined, { signal: controller.signal, speculate: { options, owner }, installId: quick.id, valid: sameId, provisional: true }).then(
      (m) => m ?? undefined,
      (err: unknown) => {
        if (err instanceof AnswerDropped) return undefined;
        throw err;
      },
    );
    manifest.catch(() => undefined);
    void manifest
      .finally(() => {
        for (const s of signals) s.removeEventListener('abort', stop);
      })
      .catch(() => undefined);
    let done = false;
    return {
      manifest,
      decide: (load) => {
        if (done) return;
        done = true;
        settle(load);
        if (!load) stop();
      },
    };
  }

  private async loadModel(name: string, options: GetModelOptions, cache: ModelCache, early: EarlyResolve | null): Promise<FerryModel> {
    const policy = options.policy ?? 'local-then-update';
    const installed = await cache.installed(name);
    if (installed && policy !== 'latest') {
      // Served from the cache, or fetched as usual (with `cached`) if that fails: the early answer is not needed.
      early?.decide(null);
      const handle = await this.openInstalled(installed, { stale: false }).catch((err: unknown) => {
        // Corrupt or unusable here: fetch it again below. Anything else is the caller's to see.
        if (err instanceof CacheCorruptError || err instanceof BackendUnavailableError) return null;
        throw err;
      });
      if (handle) {
        // Long done by now: the handle's telemetry is set up before the app gets it.
        await this.ready.catch(() => undefined);
        if (policy === 'local-then-update') handle.update = this.backgroundUpdate(name, options.conditions, { before: installed.backend, now: handle.backend, bytes: handle });
        return handle;
      }
      // Read again: the failed open recorded what failed here (or uninstalled corrupt bytes).
      return this.fetchLatest(name, { ...options, fallback: undefined, installed: await cache.installed(name) }, false);
    }
    return this.fetchLatest(name, { ...options, fallback: installed, installed }, true, early);
  }

  async prefetch(name: string, options: PrefetchOptions = {}): Promise<CachedModelInfo> {
    const { cache } = await this.ready;
    const installed = await cache.installed(name);
    const manifest = await this.resolveManifest(name, installed && (await this.askedAbout(installed)), { signal: options.signal });
    if (manifest === null) return infoOf(installed!);
    if (sameModel(installed, manifest.payload)) {
      // A better variant of the installed version (this device gained WebGPU), fetched only while
      // the device has the backend the model ran on (as a background update does).
      return infoOf((await this.updateSameVersion(manifest, installed, options, await this.hasBackendFor(installed))) ?? (await cache.installed(name)) ?? installed);
    }
    return infoOf(await this.fetchBytesOnly(manifest, options));
  }

  /**
   * Whether this start has the backend the installed bytes are for: the one they ran on or, fetched
   * and not run yet beside a fallback that did, the first their kept manifest lists them on. True
   * for a model prefetched and never run (the candidate that ranks first now is as good as any).
   */
  private async hasBackendFor(installed: InstalledModel): Promise<boolean> {
    const ranOn = installed.fallback ? (aimOf(installed, keptCandidates(installed)) ?? null) : installed.backend;
    return ranOn === null || backendHere(ranOn, await this.capabilities(), this.runtime);
  }

  /**
   * The installed record as the server is asked about it: as it is or, on a start without the
   * backend its bytes are for, as its fallback, which such a start runs (a 304 while that is still
   * this device's best, as for a start the fallback serves).
   */
  private async askedAbout(installed: InstalledModel): Promise<InstalledModel> {
    const fallback = installed.fallback;
    return fallback && !(await this.hasBackendFor(installed)) ? askingAbout(installed, fallback, fallback.backend) : installed;
  }

  async listCachedModels(): Promise<CachedModelInfo[]> {
    const { cache } = await this.ready;
    return (await cache.listInstalled()).map(infoOf);
  }

  async cacheInfo(): Promise<CacheInfo> {
    const { cache } = await this.ready;
    // Writes still running (a new cache directory, an install behind a load) decide what it is.
    await cache.settle();
    return { kind: cache.storage.kind, usedBytes: await cache.usedBytes(), maxBytes: cache.maxBytes };
  }

  async deleteCachedModel(name: string): Promise<boolean> {
    const { cache } = await this.ready;
    return cache.uninstall(name);
  }

  async close(): Promise<void> {
    // A background update still under way stops (its partial download is discarded): the app is done.
    this.closing.abort();
    const ready = await this.ready.catch(() => null);
    await Promise.allSettled([...this.updates.values()]);
    await ready?.telemetry.close();
    await this.sessions.releaseAll();
    await ready?.cache.settle();
  }

  // --- Loading ----------------------------------------------------------------------------------------

  /**
   * Asks the server for the newest manifest and loads it. `installed` is sent as `cached` so the
   * server can answer 304. Returns null on 304.
   */
  private async resolveManifest(
    name: string,
    installed: InstalledModel | undefined,
    how: {
      signal?: AbortSignal | undefined;
      /**
       * Start the download of the likely candidate ahead ({@link speculate}) for the load of
       * `options`; or, with `owner`, for the load it names, if it names one.
       */
      speculate?: { options: LoadOptions; owner?: Promise<LoadOptions | null> };
      /** The install id, known before the cache is open ({@link earlyResolve}). */
      installId?: string;
      /**
       * Nothing is cached ({@link earlyResolve}): the device may be described by what the probe may
       * find, not waiting for it (the manifest then lists candidates for at least what it has).
       */
      provisional?: boolean;
      /**
       * False when the answer turns out not to be usable ({@link earlyResolve}: the install id was
       * not the device's): it is then dropped before it is checked, used or reported, with
       * {@link AnswerDropped}.
       */
      valid?: Promise<boolean>;
    },
  ): Promise<VerifiedManifest | null> {
    const { signal, speculate } = how;
    const started = this.platform.monotonic();
    const request: ResolveRequest = { model: name, device: await this.device(how.installId, how.provisional) };
    // A download started ahead asks the cache's index first: it is read during the round trip
    // (listing OPFS or IndexedDB took ~1.7 ms of a cold load in Chromium here when it waited).
    if (speculate) void this.opened.then(({ cache }) => cache.preloadIndex(), () => undefined);
    if (installed) {
      request.cached = { version: installed.version, sha256: installed.sha256, release: installed.release };
      // What it runs on, and what failed here: the server answers 304 only while that is still the
      // first candidate this device would try (it sends a better one first to a device that gained WebGPU).
      // (Within the protocol's limits, or the request would be refused: a name past them is left out.)
      if (installed.backend && installed.backend.length <= 32) {
        request.cached.backend = installed.backend;
        const failed = installed.failures
          .filter((f) => f.variant.length <= 64 && f.backend.length <= 32)
          .slice(0, MAX_FAILED_SENT)
          .map(({ variant, backend }) => ({ variant, backend }));
        if (failed.length) request.cached.failed = failed;
      }
      // The key that signed it: after a rotation the server signs it anew (200, not 304), so the
      // cached manifest never outlives its key in the JWKS.
      const kid = keyIdOf(installed.jws);
      if (kid) request.cached.kid = kid;
    }
    let jws: string | null;
    try {
      const answer = this.api.resolve(request, signal);
      // A download may follow: its hasher (WebAssembly, where the platform has no native one)
      // compiles during the round trip, once the request is on its way.
      if (!this.platform.createSha256) void preloadStreamingSha256();
      jws = await answer;
    } catch (err) {
      if (how.valid && !(await how.valid)) throw new AnswerDropped();
      this.reportFailure(name, err);
      throw err;
    }
    if (how.valid && !(await how.valid)) throw new AnswerDropped();
    if (jws === null) {
      this.report({ type: 'resolve', model: name, version: installed!.version, release: installed!.release, ms: this.platform.monotonic() - started, fromCache: true });
      return null;
    }
    const speculation = speculate ? this.speculate(jws, name, speculate.options, speculate.owner) : null;
    // Checked under no caller's signal: other loads may have joined the download started ahead,
    // which waits for this check even when the load that started it gave up. Checked once that
    // download's request is on its way (the check took ~0.5 ms of a cold load here, before it).
    const check = () => this.verifier.verify(jws, { model: name, checkExpiry: true });
    const verifying = speculation ? speculation.requested.then(() => new Promise<void>(nextTask)).then(check) : check();
    let manifest: VerifiedManifest;
    try {
      manifest = await this.acceptManifest(untilAborted(verifying, signal), name);
    } catch (err) {
      // The caller gave up: loads that joined the download keep it (a closing client stops it).
      if (signal?.aborted && !this.closing.signal.aborted) speculation?.orphan(verifying);
      else speculation?.cancel();
      throw err;
    }
    speculation?.stop();
    const p = manifest.payload;
    this.report({ type: 'resolve', model: name, version: p.version, release: p.release, rollout: p.rollout, ms: this.platform.monotonic() - started, fromCache: false });
    return manifest;
  }

  /**
   * Starts downloading the candidate a fresh manifest will most likely load while its signature
   * and release are checked (the resolve round trip and the download no longer wait for each
   * other's checks). Its bytes are checked against the manifest as always (its SHA-256, or its
   * block digests) and used only if the manifest verifies; the download is cancelled if it does not. Only for a candidate that
   * runs here, is not cached, is allowed by the caller's conditions, and lives on the Ferry server
   * itself; nothing starts once the manifest is verified (`stop`), the normal path takes over.
   */
  private speculate(jws: string, name: string, options: LoadOptions, owner?: Promise<LoadOptions | null>): Speculation | null {
    const caps = this.capsKnown;
    if (!caps) return null;
    let payload: ManifestPayload;
    try {
      payload = decodeJwt(jws) as unknown as ManifestPayload;
    } catch {
      return null;
    }
    if (payload.model !== name || !Array.isArray(payload.candidates)) return null;
    // Not one that failed here in this release: the load skips it (see loadManifest).
    const previous = sameModel(options.installed, payload) ? options.installed : undefined;
    const candidate = payload.candidates.find((c) => {
      try {
        return staticRejection(c, caps, this.runtime) === null && !previous?.failures.some((f) => failureKey(f) === failureKey(c));
      } catch {
        return false;
      }
    });
    if (
      !candidate ||
      !SHA256_KEY.test(String(candidate.sha256)) ||
      !Number.isSafeInteger(candidate.size) ||
      candidate.size <= 0 ||
      candidate.size > MAX_SPECULATIVE_BYTES ||
      !Array.isArray(candidate.encodings) ||
      typeof candidate.url !== 'string' ||
      !this.api.isServerUrl(this.api.url(candidate.url)) ||
      this.conditionsRefuse(candidate, options.conditions) !== null
    ) {
      return null;
    }
    const controller = new AbortController();
    let stopped = false;
    // The download finishes (and reports) only once the manifest is verified.
    let release: () => void = () => undefined;
    let refuse: (err: unknown) => void = () => undefined;
    const verified = new Promise<void>((resolve, reject) => {
      release = resolve;
      refuse = reject;
    });
    verified.catch(() => undefined);
    const sha256 = candidate.sha256;
    let load: LoadOptions | null = null;
    let sent: () => void = () => undefined;
    const requested = new Promise<void>((resolve) => (sent = resolve));
    void (async () => {
      const taker = owner ? await owner : options;
      if (!taker || taker.signal?.aborted) return;
      const { cache } = await this.opened;
      if (await cache.holds(sha256, { pending: true })) return;
      if (stopped || controller.signal.aborted || this.downloads.has(sha256) || this.speculative.has(sha256)) return;
      // The caller joins with its own signal and progress; a manifest that fails to verify stops it for everyone.
      const started = this.download({ jws, kid: undefined, payload }, candidate, taker, { writeAhead: false, verified, abort: controller.signal, onRequest: sent });
      load = taker;
      this.speculative.set(sha256, { owner: taker, download: started });
      await started;
    })()
      .catch(() => undefined)
      .finally(sent);
    const forget = () => {
      if (load && this.speculative.get(sha256)?.owner === load) this.speculative.delete(sha256);
    };
    const cancel = () => {
      controller.abort();
      refuse(new RefusedAhead('the manifest did not verify', { model: name }));
      forget();
    };
    const stop = () => {
      stopped = true;
      release();
    };
    return {
      cancel,
      stop,
      requested,
      orphan: (verifying) => {
        // The load gave up (its leaving stopped the download if nobody else waits for it).
        stopped = true;
        forget();
        verifying.then(release, cancel);
      },
    };
  }

  /** Takes a fresh manifest once verified, and records its release (refusing older ones). */
  private async acceptManifest(verifying: Promise<VerifiedManifest>, name: string): Promise<VerifiedManifest> {
    try {
      const manifest = await verifying;
      const { persisted } = await (await this.opened).cache.acceptRelease(name, manifest.payload.release);
      persisted.catch(() => undefined);
      this.releasePersisted.set(manifest, persisted);
      return manifest;
    } catch (err) {
      this.reportFailure(name, err);
      throw err;
    }
  }

  private async fetchLatest(name: string, options: LoadOptions, allowNotModified: boolean, early?: EarlyResolve | null): Promise<FerryModel> {
    const fallback = options.fallback;
    let manifest: VerifiedManifest | null;
    try {
      early?.decide(options);
      const asked = allowNotModified && fallback ? await this.askedAbout(fallback) : undefined;
      manifest = (await this.runnableHere(await early?.manifest)) ?? (await this.resolveManifest(name, asked, { signal: options.signal, speculate: { options } }));
    } catch (err) {
      if (fallback && isTransientError(err)) return this.openFallback(fallback, err);
      throw err;
    }
    if (manifest === null) {
      const handle = await this.openInstalled(fallback!, { stale: false }).catch((err: unknown) => {
        if (err instanceof CacheCorruptError || err instanceof BackendUnavailableError) return null;
        throw err;
      });
      if (handle) return handle;
      // As in loadModel: the failed open recorded what failed here.
      const { cache } = await this.opened;
      return this.fetchLatest(name, { ...options, fallback: undefined, installed: await cache.installed(name) }, false);
    }
    if (allowNotModified && fallback && sameModel(fallback, manifest.payload)) {
      // The installed release and version, sent again (ranked anew for this start, or signed
      // anew): handled as a background update is, before the model is returned. A better variant
      // is fetched, kept beside the bytes that ran as their fallback, only on a start that has the
      // backend the model is for; the model then opens on the best bytes it holds. (Loaded as a
      // fresh manifest, a start without the GPU installed the wasm variant in place of the GPU's,
      // and the next start with it downloaded that again.)
      const handle = await this.openUpdated(manifest, fallback, options);
      if (handle) return handle;
    }
    try {
      return await this.loadManifest(manifest, options);
    } finally {
      // A download started ahead that this load did not take (it writes nothing ahead: just forget it).
      for (const c of manifest.payload.candidates) if (this.speculative.get(c.sha256)?.owner === options) this.speculative.delete(c.sha256);
    }
  }

  /**
   * `latest` answered with the installed release and version: the same variant update as in the
   * background ({@link updateSameVersion}), then the installed model opened. Null when it cannot be
   * opened (corrupt, or nothing runs here): the load goes on with the fresh manifest.
   */
  private async openUpdated(manifest: VerifiedManifest, installed: InstalledModel, options: LoadOptions): Promise<FerryModel | null> {
    const { cache } = await this.opened;
    // A download that fails leaves the bytes held, which are of the newest version too (a
    // cancelled load is cancelled, though).
    const fetched = await this.updateSameVersion(manifest, installed, options, await this.hasBackendFor(installed)).catch((err: unknown) => {
      if (options.signal?.aborted) throw err;
      return null;
    });
    const now = fetched ?? (await cache.installed(installed.model));
    if (!now) return null;
    return this.openInstalled(now, { stale: false, fetched: fetched !== null }).catch((err: unknown) => {
      if (err instanceof CacheCorruptError || err instanceof BackendUnavailableError) return null;
      throw err;
    });
  }

  /**
   * `manifest` (an early resolve's, sent with the provisional description of the device) if one of
   * its candidates could run here; else undefined, and the load resolves again with what the probe
   * found. The server picks the version by the device's description (a version none of whose
   * variants fits is passed over for an older one), so a description claiming WebGPU the device
   * turns out not to have can bring a version it cannot run at all.
   */
  private async runnableHere(manifest: VerifiedManifest | undefined): Promise<VerifiedManifest | undefined> {
    if (!manifest) return undefined;
    const caps = await this.capabilities();
    return manifest.payload.candidates.some((c) => staticRejection(c, caps, this.runtime) === null) ? manifest : undefined;
  }

  /** The installed model after the network failed: served stale, or the network error if it cannot be. */
  private async openFallback(installed: InstalledModel, networkError: unknown): Promise<FerryModel> {
    try {
      return await this.openInstalled(installed, { stale: true });
    } catch {
      throw networkError;
    }
  }

  /**
   * Loads the installed model from the cache: its manifest re-verified (signature, audience, model;
   * not expiry, so that it can be served offline), its bytes re-hashed (both at once), on the
   * first candidate of that manifest that works here, of those naming the installed bytes or the
   * ones kept as their fallback ({@link InstalledModel.fallback}). The installed bytes are given
   * up for the fallback only when they are corrupt or gone or failed on the backend they are for.
   */
  private async openInstalled(installed: InstalledModel, options: { stale: boolean; fetched?: boolean }): Promise<ModelHandle> {
    const { cache } = await this.opened;
    const name = installed.model;
    // The bytes are read and hashed while the manifest is checked; neither is used before both are,
    // and the bytes only if the verified manifest names their SHA-256 and length.
    /** The artifact read back (and re-hashed), with how long that took. A key that is not a SHA-256 names no candidate: not read. */
    const readTimed = (bytes: { sha256: string; size: number }): Promise<{ read: CachedArtifact; ms: number } | { error: unknown }> => {
      const started = this.platform.monotonic();
      const read = SHA256_KEY.test(bytes.sha256) ? cache.read(bytes.sha256, bytes.size, name) : Promise.resolve({ missing: true as const });
      return read.then(
        (read) => ({ read, ms: this.platform.monotonic() - started }),
        (error: unknown) => ({ error }),
      );
    };
    // The installed bytes are read early unless their backend is known to be missing this start (a
    // start without the GPU they ran on reads nothing it cannot run, nor marks it used); with a
    // fallback kept, only when it is known to be here: that start reads the fallback's alone.
    const ranOn = installed.backend;
    const here = ranOn === null || this.capsKnown === null ? null : backendHere(ranOn, this.capsKnown, this.runtime);
    const mayRun = installed.fallback ? here === true : here !== false;
    const early = mayRun ? readTimed(installed) : null;
    const matches = (c: ManifestCandidate) => sameBytes(c, installed);
    let manifest: VerifiedManifest;
    try {
      manifest = await this.verifier.verify(installed.jws, { model: name, checkExpiry: false });
      const p = manifest.payload;
      if (p.release !== installed.release || p.version !== installed.version || !p.candidates.some(matches)) {
        throw new CacheCorruptError(`the cached record of "${name}" does not match its manifest`, { model: name });
      }
    } catch (err) {
      const corrupt = err instanceof CacheCorruptError ? err : new CacheCorruptError(`the cached manifest of "${name}" no longer verifies: ${messageOf(err)}`, { model: name, cause: err });
      this.reportFailure(name, corrupt);
      await cache.uninstall(name, installed);
      throw corrupt;
    }
    const caps = await this.capabilities();
    const known = new Set(installed.failures.map(failureKey));
    const failures: CandidateFailure[] = [...installed.failures];
    const fallback = installed.fallback;
    // The bytes held: the installed ones and, if other, the fallback's. The manifest's candidates
    // are tried in its order, whichever bytes they name: on a start without the GPU the installed
    // bytes were fetched for, the fallback's can rank first on the backend left (int8 before fp32
    // on wasm), and then they run.
    const held: { sha256: string; size: number }[] = fallback && !sameBytes(fallback, installed) ? [installed, fallback] : [installed];
    const bytesRead = new Map<object, Uint8Array>();
    /** Bytes that could not be read this start: gone, corrupt (reported), or a read error (reported). */
    const lost = new Map<object, unknown>();
    let ran: { candidate: ManifestCandidate; session: ModelSession; of: object } | null = null;
    for (const candidate of manifest.payload.candidates) {
      const of = held.find((h) => sameBytes(candidate, h));
      if (!of || known.has(failureKey(candidate)) || lost.has(of)) continue;
      const rejection = staticRejection(candidate, caps, this.runtime);
      if (rejection) {
        failures.push(this.failure(candidate, rejection, true));
        continue;
      }
      let bytes = bytesRead.get(of);
      if (!bytes) {
        const outcome = await (of === installed ? (early ?? readTimed(installed)) : readTimed(of));
        if ('error' in outcome) {
          this.reportFailure(name, outcome.error, { version: installed.version, variant: candidate.variant });
          lost.set(of, outcome.error);
          continue;
        }
        if ('missing' in outcome.read) {
          lost.set(of, new CacheCorruptError(`the cached bytes of "${name}" are gone`, { model: name }));
          continue;
        }
        bytes = outcome.read.bytes;
        bytesRead.set(of, bytes);
        this.report({ type: 'download', model: name, version: installed.version, variant: candidate.variant, release: installed.release, bytes: 0, ms: outcome.ms, fromCache: true, resumed: false });
      }
      const session = await this.loadSession(manifest, candidate, bytes).catch((err: unknown) => {
        failures.push(this.failure(candidate, messageOf(err), false));
        return null;
      });
      if (session) {
        ran = { candidate, session, of };
        break;
      }
    }
    // Kept, as for a fresh install: how candidates behaved here, not what the device lacked this start.
    const kept = this.kept(failures);
    const noteFailures = () => {
      // Notes for the next load: written behind this one, and a failed write (a full disk) costs only them.
      if (kept.length !== installed.failures.length) cache.inBackground(cache.updateInstalled(name, { failures: kept }, installed));
    };
    const installedLost = lost.has(installed) ? lost.get(installed) : null;
    const fallbackGone = fallback !== undefined && lost.get(fallback) instanceof CacheCorruptError;
    if (ran && ran.of === installed) {
      const { candidate, session } = ran;
      // (Bytes this load has just fetched: from the network.)
      const source = options.fetched ? 'network' : 'cache';
      if (fallback && lost.has(fallback) && !fallbackGone) {
        // The fallback, ranked first, could not be read this start (a read error, not a corrupt
        // file): an exception, which changes nothing but the failures noted (and that the
        // installed bytes ran, so that they are not the spare ones).
        noteFailures();
        if (fallback.ranLast) cache.inBackground(cache.markRan(name, installed.sha256));
      } else {
        if (installed.backend !== candidate.backend || kept.length !== installed.failures.length) {
          cache.inBackground(cache.updateInstalled(name, { backend: candidate.backend, failures: kept }, installed));
        }
        // The new bytes ran here: the ones kept in case they did not go are no longer needed, unless
        // they ran on a GPU, which may be missing on a later start, and the fallback ranks first
        // without it; or they are gone.
        if (fallback && (fallbackGone || !stillNeeded(manifest.payload.candidates, fallback, installed, candidate.backend, kept))) {
          cache.inBackground(cache.dropFallback(name, installed));
        } else if (fallback?.ranLast) {
          cache.inBackground(cache.markRan(name, installed.sha256));
        }
      }
      return this.handle(manifest, candidate, session, { source, stale: options.stale, failures });
    }
    if (ran) {
      const { candidate, session } = ran;
      // The fallback's bytes ran. The installed ones are done for here only on evidence: they are
      // corrupt or gone, or they failed for real (now or before) on the backend they are for: the
      // one they ran on or, not run yet, the first their manifest lists them on (not a backend this
      // device may never have had). A start that lacks that backend, reaches none of their
      // candidates (the fallback ranked first) or cannot read them leaves them be.
      const aim = aimOf(installed, manifest.payload.candidates);
      const failedOnAim = kept.some((f) => f.variant === installed.variant && f.backend === aim);
      const failedHere = installedLost !== null ? installedLost instanceof CacheCorruptError : failedOnAim;
      if (failedHere) {
        // Back on the bytes that ran before, with the failure kept; the new bytes are deleted
        // (unless the record changed meanwhile).
        const noted = { jws: installed.jws, variant: candidate.variant, backend: candidate.backend, failures: kept };
        cache.inBackground(cache.backToFallback(name, installed.jws, noted));
      } else {
        // The device lacks, this start, what the new bytes need (a GPU that comes and goes): the
        // fallback serves this start, both stay, and only what failed here is noted (and that the
        // fallback ran: the other bytes are the spare ones while the GPU is away).
        noteFailures();
        if (!fallback!.ranLast) cache.inBackground(cache.markRan(name, fallback!.sha256));
      }
      return this.handle(manifest, candidate, session, { source: 'cache', stale: options.stale, failures });
    }
    if (fallbackGone) cache.inBackground(cache.dropFallback(name, installed));
    if (installedLost !== null) {
      if (installedLost instanceof CacheCorruptError) await cache.uninstall(name, installed);
      throw installedLost;
    }
    await cache.updateInstalled(name, { failures: kept }, installed);
    throw new BackendUnavailableError(`no cached candidate of "${name}" runs here`, failures, { model: name });
  }

  /** Tries the candidates of a fresh manifest in order: bytes from the cache or the network, then a session. */
  private async loadManifest(manifest: VerifiedManifest, options: LoadOptions): Promise<FerryModel> {
    const { cache } = await this.opened;
    const caps = await this.capabilities();
    const failures: CandidateFailure[] = [];
    // Candidates that failed here in this release and version (the server sends its manifest
    // again after a key rotation, or when the cached bytes are none of its candidates): skipped,
    // their bytes not downloaded again.
    const previous = options.installed;
    const knownBad = new Map(sameModel(previous, manifest.payload) ? previous.failures.map((f) => [failureKey(f), f]) : []);
    // Candidates often share bytes (one variant on several backends): fetch and verify them once.
    const loaded = new Map<string, { bytes: Uint8Array; source: 'cache' | 'network' }>();
    /** Downloads of this load, by SHA-256: the installed one's bytes are stored behind it, other writers dropped. */
    const downloaded = new Map<string, Download>();
    try {
      return await this.loadCandidates(manifest, options, { cache, caps, knownBad, failures, loaded, downloaded });
    } finally {
      for (const d of downloaded.values()) if (d.written) void d.written.abort();
    }
  }

  private async loadCandidates(
    manifest: VerifiedManifest,
    options: LoadOptions,
    state: {
      cache: ModelCache;
      caps: Readonly<Capabilities>;
      knownBad: ReadonlyMap<string, CandidateFailure>;
      failures: CandidateFailure[];
      loaded: Map<string, { bytes: Uint8Array; source: 'cache' | 'network' }>;
      downloaded: Map<string, Download>;
    },
  ): Promise<FerryModel> {
    const { cache, caps, knownBad, failures, loaded, downloaded } = state;
    const p = manifest.payload;
    const name = p.model;
    let skipped: string | null = null;
    for (const candidate of p.candidates) {
      const fail = (reason: string, situational = false) => failures.push(this.failure(candidate, reason, situational));
      const rejection = staticRejection(candidate, caps, this.runtime);
      if (rejection) {
        fail(rejection, true);
        continue;
      }
      const before = knownBad.get(failureKey(candidate));
      if (before) {
        failures.push(before);
        continue;
      }
      let bytes: Uint8Array | null = loaded.get(candidate.sha256)?.bytes ?? null;
      let source: 'cache' | 'network' = loaded.get(candidate.sha256)?.source ?? 'cache';
      const cached = bytes
        ? { bytes }
        : await cache.read(candidate.sha256, candidate.size, name, { pending: true }).catch((err: unknown) => {
            this.reportFailure(name, err, { version: p.version, variant: candidate.variant });
            return { missing: true as const };
          });
      if ('bytes' in cached) {
        bytes = cached.bytes;
        // Another load's download, finished but not stored yet: as if this load had joined it (stored by both).
        if ('pending' in cached) source = 'network';
      } else {
        const refusal = this.conditionsRefuse(candidate, options.conditions);
        if (refusal) {
          fail(refusal, true);
          skipped ??= refusal;
          continue;
        }
        try {
          const download = await this.download(manifest, candidate, options, { writeAhead: false });
          bytes = download.bytes;
          source = 'network';
          loaded.set(candidate.sha256, { bytes, source });
          downloaded.set(candidate.sha256, download);
        } catch (err) {
          if (options.fallback && isTransientError(err)) return this.openFallback(options.fallback, err);
          throw err;
        }
      }
      loaded.set(candidate.sha256, { bytes, source });
      const session = await this.loadSession(manifest, candidate, bytes).catch((err: unknown) => {
        fail(messageOf(err));
        return null;
      });
      if (!session) continue;
      // The model is verified and runs: it is handed out now, while its bytes are committed to the
      // cache and it is installed behind (getModel and listCachedModels wait for that; close() too).
      const download = downloaded.get(candidate.sha256);
      downloaded.delete(candidate.sha256);
      const check = download?.checked === 'blocks' ? () => this.checkWhole(bytes, manifest, candidate) : undefined;
      const record = this.installedRecord(manifest, candidate, candidate.backend, failures, knownBad.values());
      // (The record's own bytes ran: not its fallback's.)
      const carried = carriedFallback(options.installed, candidate, p);
      if (carried) record.fallback = { ...carried, ranLast: false };
      // (Where the cache lacks room for both, it evicts as always: see ModelCache.evict. If the
      // installed bytes go, the model is installed on the new ones.)
      const beside = this.keptBeside(options.installed, record, caps);
      cache.installBehind(beside ?? record, source === 'network' ? bytes : null, { written: download?.written ?? null, check, of: record });
      return this.handle(manifest, candidate, session, { source, stale: false, failures });
    }
    if (skipped !== null) {
      if (options.fallback) {
        const handle = await this.openInstalled(options.fallback, { stale: true }).catch(() => null);
        if (handle) return handle;
      }
      throw new DownloadSkippedError(`the download of "${name}" was skipped: ${skipped}`, { model: name });
    }
    const err = new BackendUnavailableError(`no candidate of "${name}" runs here: ${failures.map((f) => `${f.variant}/${f.backend}: ${f.reason}`).join('; ')}`, failures, { model: name });
    this.reportFailure(name, err, { version: p.version });
    throw err;
  }

  /**
   * `previous` (the installed record) with the bytes that have just run here, `record`, as its
   * fallback: when they are of the same release and version and `previous`'s bytes are for a GPU
   * this start lacks (installed on a start with it, or their fallback lost), have not failed on it,
   * and list `record`'s bytes on the backend they ran on; signed by the same key. Undefined
   * otherwise (`record` replaces them). Installed in place of them, the next start with the GPU
   * would download its variant again.
   */
  private keptBeside(previous: InstalledModel | undefined, record: InstalledModel, caps: Readonly<Capabilities>): InstalledModel | undefined {
    if (!sameModel(previous, record) || sameBytes(previous, record) || record.backend === null) return undefined;
    const kept = keptCandidates(previous);
    const aim = aimOf(previous, kept);
    if (aim === undefined || !GPU_BACKENDS.has(aim) || backendHere(aim, caps, this.runtime)) return undefined;
    if (previous.failures.some((f) => f.variant === previous.variant && f.backend === aim)) return undefined;
    if (!kept.some((c) => sameBytes(c, record) && c.backend === record.backend)) return undefined;
    const kid = keyIdOf(previous.jws);
    if (kid === undefined || kid !== keyIdOf(record.jws)) return undefined;
    const failures = withFailures(previous.failures, record.failures);
    return { ...previous, failures, fallback: { sha256: record.sha256, size: record.size, variant: record.variant, backend: record.backend, ranLast: true } };
  }

  /**
   * A fresh manifest of the installed release and version (`installed`): when it ranks other bytes
   * first for this device (it gained WebGPU), those are downloaded and installed with the bytes
   * that ran kept as their fallback (when both fit the budget); only on a `steady` start (one that
   * runs the model on the backend its record says it ran on: not a start without the GPU), and
   * when the caller's conditions allow. Returns the new record, or null when nothing was fetched:
   * the manifest then replaces the kept one when it is signed by another key (the old one leaves
   * the JWKS) or lists the installed bytes on more backends, not when it was ranked for a start
   * that lacked one (the next start with the GPU would find no candidate for it).
   */
  private async updateSameVersion(manifest: VerifiedManifest, installed: InstalledModel, options: PrefetchOptions, steady: boolean): Promise<InstalledModel | null> {
    const { cache } = await this.opened;
    const p = manifest.payload;
    const lists = (bytes: { sha256: string; size: number }) => p.candidates.some((c) => sameBytes(c, bytes));
    const best = await this.preferredCandidate(p, installed);
    if (
      best &&
      !sameBytes(best, installed) &&
      steady &&
      best.size <= cache.maxBytes &&
      this.conditionsRefuse(best, options.conditions) === null
    ) {
      const keep = fallbackOf(installed);
      return this.fetchBytesOnly(manifest, options, keep && best.size + keep.size <= cache.maxBytes ? keep : undefined);
    }
    if (manifest.jws === installed.jws) return null;
    const rotated = keyIdOf(manifest.jws) !== keyIdOf(installed.jws);
    if (lists(installed)) {
      if (rotated || listsMore(p.candidates, installed)) await cache.updateInstalled(installed.model, { jws: manifest.jws }, installed);
    } else if (rotated && installed.fallback && lists(installed.fallback)) {
      // A new key, answered to a start without the GPU: the manifest lists only the fallback's
      // bytes. The model goes back to them under it (kept under the old key, it would stop
      // verifying once that key leaves the JWKS, and be lost offline).
      const { variant, backend } = installed.fallback;
      await cache.backToFallback(installed.model, installed.jws, { jws: manifest.jws, variant, backend });
    }
    return null;
  }

  /**
   * The first candidate of `p` (a manifest of the installed release and version) that a load here
   * would try: one the device can run that has not failed here. Undefined if none.
   */
  private async preferredCandidate(p: ManifestPayload, installed: InstalledModel): Promise<ManifestCandidate | undefined> {
    const caps = await this.capabilities();
    const knownBad = new Set(installed.failures.map(failureKey));
    return p.candidates.find((c) => staticRejection(c, caps, this.runtime) === null && !knownBad.has(failureKey(c)));
  }

  /** Downloads and installs the first usable candidate's bytes without loading them (prefetch, background updates). */
  private async fetchBytesOnly(manifest: VerifiedManifest, options: PrefetchOptions, fallback?: InstalledFallback): Promise<InstalledModel> {
    const { cache } = await this.ready;
    const caps = await this.capabilities();
    const p = manifest.payload;
    const previous = await cache.installed(p.model);
    const knownBad = new Set(sameModel(previous, p) ? previous.failures.map(failureKey) : []);
    const failures: CandidateFailure[] = [];
    let skipped: string | null = null;
    for (const candidate of p.candidates) {
      const situation = staticRejection(candidate, caps, this.runtime);
      const rejection = situation ?? (knownBad.has(failureKey(candidate)) ? FAILED_BEFORE : null);
      if (rejection) {
        failures.push(this.failure(candidate, rejection, situation !== null));
        continue;
      }
      const record = this.installedRecord(manifest, candidate, null, failures, sameModel(previous, p) ? previous.failures : []);
      const keep = fallback && fallback.sha256 !== candidate.sha256 ? fallback : carriedFallback(previous, candidate, p);
      if (keep) record.fallback = keep;
      const cached = await cache.read(candidate.sha256, candidate.size, p.model).catch(() => ({ missing: true as const }));
      let fetched: { bytes: Uint8Array; written: ArtifactWriter | null } | null = null;
      if ('missing' in cached) {
        // Fetched for the cache only: bytes it cannot keep are not worth a download.
        const refusal =
          candidate.size > cache.maxBytes ? `${candidate.size} bytes, more than the cache's budget of ${cache.maxBytes}` : this.conditionsRefuse(candidate, options.conditions);
        if (refusal) {
          failures.push(this.failure(candidate, refusal, true));
          skipped ??= refusal;
          continue;
        }
        const { bytes, written, checked } = await this.download(manifest, candidate, options, { writeAhead: true });
        if (checked === 'blocks') await this.checkWhole(bytes, manifest, candidate).catch(async (err: unknown) => {
          await written?.abort();
          throw err;
        });
        fetched = { bytes, written };
      }
      await this.releasePersisted.get(manifest)?.catch(async (err: unknown) => {
        await fetched?.written?.abort();
        throw err;
      });
      // (Installed now: after the download, not when the record was drawn up before it.)
      record.installedAt = this.platform.now();
      if (!fetched) await cache.install(record);
      // (For `record`: the bytes it replaces are the first to make room.)
      else if (!(await cache.storeAndInstall(record, fetched.bytes, fetched.written))) {
        throw new DownloadError(`"${p.model}" was downloaded but the cache could not keep it (full of nothing it may evict)`, { model: p.model });
      }
      return record;
    }
    if (skipped !== null) throw new DownloadSkippedError(`the download of "${p.model}" was skipped: ${skipped}`, { model: p.model });
    throw new BackendUnavailableError(`no candidate of "${p.model}" can run here`, failures, { model: p.model });
  }

  /**
   * Hashes bytes that were checked block by block once more as a whole, before they are cached:
   * the cache holds only bytes whose SHA-256 is the manifest's (blocks that match a digest list
   * the server got wrong would otherwise be stored under a name they do not hash to).
   */
  private async checkWhole(bytes: Uint8Array, manifest: VerifiedManifest, candidate: ManifestCandidate): Promise<void> {
    const actual = await sha256HexInSlices(bytes, this.platform.createSha256?.bind(this.platform));
    if (actual === candidate.sha256) return;
    const p = manifest.payload;
    const err = new IntegrityError(`the artifact's SHA-256 is ${actual}, the manifest says ${candidate.sha256} (its blocks matched)`, { model: p.model });
    this.reportFailure(p.model, err, { version: p.version, variant: candidate.variant, release: p.release });
    throw err;
  }

  /** Why `candidate` was passed over; `situational` when it says what the device or the network is now ({@link installedRecord}). */
  private failure(candidate: ManifestCandidate, reason: string, situational: boolean): CandidateFailure {
    const failure = { variant: candidate.variant, backend: candidate.backend, reason };
    if (situational) this.situational.add(failure);
    return failure;
  }

  /**
   * The failures an installed record keeps: how candidates behaved here (a backend that failed to
   * load or run), skipped on later loads of the release. Not kept: what the device or the network
   * was at the time (a backend it lacked, the caller's conditions), which every load finds out again.
   */
  private kept(failures: readonly CandidateFailure[]): CandidateFailure[] {
    return failures.filter((f) => !this.situational.has(f));
  }

  /**
   * The cache's record of `candidate` of a verified manifest, installed now. `carried`: failures
   * known here of the same release and version, kept too (those of candidates ranked after the
   * installed one were not met on the way to it, and the server is told of all).
   */
  private installedRecord(
    manifest: VerifiedManifest,
    candidate: ManifestCandidate,
    backend: string | null,
    failures: CandidateFailure[],
    carried: Iterable<CandidateFailure> = [],
  ): InstalledModel {
    const p = manifest.payload;
    failures = withFailures(this.kept(failures), carried);
    return {
      model: p.model,
      jws: manifest.jws,
      release: p.release,
      version: p.version,
      sha256: candidate.sha256,
      size: candidate.size,
      variant: candidate.variant,
      backend,
      failures,
      installedAt: this.platform.now(),
    };
  }

  /** Why the caller's conditions forbid downloading `candidate`; null when they allow it. */
  private conditionsRefuse(candidate: ManifestCandidate, conditions: DownloadConditions | undefined): string | null {
    if (!conditions) return null;
    if (conditions.maxBytes !== undefined) {
      const wire = Math.min(candidate.size, ...candidate.encodings.map((e) => e.size));
      if (wire > conditions.maxBytes) return `${wire} bytes is more than maxBytes ${conditions.maxBytes}`;
    }
    if (conditions.allowMetered === false) {
      const network = this.platform.network();
      if (network.metered) return 'the network is metered';
      if (network.saveData) return 'Save-Data is on';
    }
    return null;
  }

  /**
   * Downloads and verifies one candidate and reports it. Concurrent calls for the same bytes share
   * one download, each with its own signal and progress: a caller that aborts stops waiting at
   * once, and the download stops when no caller is left. `writeAhead` writes the bytes to the
   * cache as they arrive (committed once verified): for prefetches and background updates; a load
   * stores them after it ran instead ({@link ModelCache.installBehind}). `verified` holds a
   * download started ahead of its manifest's verification ({@link speculate}); `abort` stops it
   * for every caller.
   */
  private download(
    manifest: VerifiedManifest,
    candidate: ManifestCandidate,
    options: PrefetchOptions,
    how: { writeAhead: boolean; verified?: Promise<void>; abort?: AbortSignal; onRequest?: () => void },
  ): Promise<Download> {
    // A caller that gave up already starts nothing (a download nobody waits for would run to its end).
    if (options.signal?.aborted) return Promise.reject(new DownloadAbortedError(undefined, { model: manifest.payload.model }));
    const speculated = this.speculative.get(candidate.sha256);
    if (speculated?.owner === options) {
      // The load that started it has joined it already, with its signal and progress.
      this.speculative.delete(candidate.sha256);
      return speculated.download;
    }
    let shared = this.downloads.get(candidate.sha256);
    if (!shared) {
      shared = this.startDownload(manifest, candidate, how);
      this.downloads.set(candidate.sha256, shared);
    }
    const joined = shared.join(options);
    if (how.verified) return joined;
    // Joined a download started ahead of another load's manifest, which then failed its check:
    // this caller's manifest verified, so it downloads the bytes again, on its own manifest.
    return joined.catch((err: unknown) => {
      if (err instanceof RefusedAhead && !options.signal?.aborted) return this.download(manifest, candidate, options, how);
      throw err;
    });
  }

  private startDownload(manifest: VerifiedManifest, candidate: ManifestCandidate, how: { writeAhead: boolean; verified?: Promise<void>; abort?: AbortSignal; onRequest?: () => void }): SharedDownload {
    const p = manifest.payload;
    const controller = new AbortController();
    // Stopped: a caller that comes later starts a download of its own.
    const stop = () => {
      controller.abort();
      if (this.downloads.get(candidate.sha256) === shared) this.downloads.delete(candidate.sha256);
    };
    if (how.abort?.aborted) controller.abort();
    how.abort?.addEventListener('abort', stop, { once: true });
    const listeners = new Set<(progress: DownloadProgress) => void>();
    let callers = 0;
    const run = (async (): Promise<Download> => {
      const url = this.api.url(candidate.url);
      const { cache } = await this.opened;
      let written = how.writeAhead ? cache.writer(candidate.sha256, candidate.size) : null;
      const sink = written && {
        write: (chunk: Uint8Array) => written?.write(chunk),
        restart: () => {
          void written?.abort();
          written = null;
        },
      };
      try {
        const result = await this.downloader.download({
          url,
          headers: this.api.headersFor(url),
          // Listed once per artifact, on the first candidate with its bytes.
          // (A download started ahead reads a payload not checked yet: anything may be in its list.)
          expected: { size: candidate.size, sha256: candidate.sha256, blocks: candidate.blocks ?? p.candidates.find((c) => c?.sha256 === candidate.sha256 && c.blocks)?.blocks },
          model: p.model,
          variant: candidate.variant,
          signal: controller.signal,
          onProgress: (progress) => {
            for (const listener of listeners) listener(progress);
          },
          sink: sink ?? undefined,
          onRequest: how.onRequest,
        });
        // Started ahead of its manifest's verification: nothing is reported or handed on before it.
        if (how.verified) await how.verified;
        this.report({
          type: 'download',
          model: p.model,
          version: p.version,
          variant: candidate.variant,
          release: p.release,
          rollout: p.rollout,
          bytes: result.transferred,
          ms: Math.round(result.ms),
          encoding: result.encoding.slice(0, 16),
          resumed: result.resumed,
          fromCache: false,
        });
        return { ...result, written };
      } catch (err) {
        // Failed, maybe before its request went out: a check that waits for the request must not
        // wait for ever (the failure waits for that check, below).
        how.onRequest?.();
        await written?.abort();
        // Started ahead of its manifest's verification: if that manifest is refused, its refusal
        // is the report, and nothing of this download is; loads that joined get the refusal.
        const refusal = how.verified ? await how.verified.then(() => null, (e: unknown) => e) : null;
        if (refusal) throw refusal;
        this.reportFailure(p.model, err, { version: p.version, variant: candidate.variant, release: p.release });
        throw err;
      } finally {
        how.abort?.removeEventListener('abort', stop);
      }
    })();
    void run.catch(() => undefined).finally(() => {
      if (this.downloads.get(candidate.sha256) === shared) this.downloads.delete(candidate.sha256);
    });
    const shared: SharedDownload = {
      join: ({ signal, onProgress }) => {
        if (signal?.aborted) return Promise.reject(new DownloadAbortedError(undefined, { model: p.model }));
        callers++;
        if (onProgress) listeners.add(onProgress);
        return new Promise<Download>((resolve, reject) => {
          const leave = () => {
            if (onProgress) listeners.delete(onProgress);
            signal?.removeEventListener('abort', onAbort);
          };
          const onAbort = () => {
            leave();
            if (--callers === 0) stop();
            reject(new DownloadAbortedError(undefined, { model: p.model }));
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          run.then(
            (download) => {
              leave();
              resolve(download);
            },
            (err: unknown) => {
              leave();
              reject(err);
            },
          );
        });
      },
    };
    return shared;
  }

  /** A warmed-up session for `candidate` (shared with other handles of the same bytes and backend). */
  private async loadSession(manifest: VerifiedManifest, candidate: ManifestCandidate, bytes: Uint8Array): Promise<ModelSession> {
    const p = manifest.payload;
    const started = this.platform.monotonic();
    try {
      const session = await this.sessions.acquire(`${candidate.sha256}|${candidate.backend}`, async () => {
        const session = await this.runtime.createSession(bytes, candidate.backend);
        try {
          const inputs = p.io?.inputs.length ? p.io.inputs : session.inputInfo;
          const feeds = inputs ? warmUpFeeds(this.runtime, inputs) : null;
          // The warm-up is the first run: a backend that loads but cannot run fails here, not in the app.
          if (feeds) await session.run(feeds);
        } catch (err) {
          await session.release().catch(() => undefined);
          throw err;
        }
        return session;
      });
      this.report({ type: 'load', model: p.model, version: p.version, variant: candidate.variant, backend: candidate.backend, release: p.release, rollout: p.rollout, ms: this.platform.monotonic() - started });
      return session;
    } catch (err) {
      this.report({
        type: 'error',
        model: p.model,
        version: p.version,
        variant: candidate.variant,
        backend: candidate.backend,
        release: p.release,
        code: 'backend_unavailable',
        message: messageOf(err),
      });
      throw err;
    }
  }

  private handle(manifest: VerifiedManifest, candidate: ManifestCandidate, session: ModelSession, init: { source: 'cache' | 'network'; stale: boolean; failures: CandidateFailure[] }): ModelHandle {
    const key = `${candidate.sha256}|${candidate.backend}`;
    return new ModelHandle(
      { manifest: manifest.payload, candidate, session, ...init },
      {
        runtime: this.runtime,
        monotonic: () => this.platform.monotonic(),
        toPixels: (image) => this.toPixels(image),
        recordInference: (context, ms) => this.telemetryClient?.recordInference(context, ms),
        measuresInference: () => this.telemetryClient?.isEnabled ?? false,
        release: () => this.sessions.release(key),
      },
    );
  }

  private async toPixels(image: unknown): Promise<Pixels> {
    if (!this.platform.toPixels) throw new TypeError('this platform cannot read images: pass {data, width, height} pixels');
    return this.platform.toPixels(image);
  }

  /**
   * `local-then-update`: fetches the newest in the background for the next `getModel`. Never
   * rejects. `ran` says on which backend the model ran before this start and on which it runs now: bytes
   * of the same version that rank better here are fetched only when the two agree (not on a start
   * that lacks the GPU the model ran on: a GPU that comes and goes does not cost a download each time).
   * When the fallback served this start (`ran.bytes`), it is what the server is asked about: while it
   * is still this device's first candidate, the answer is a 304, not the manifest again each start.
   */
  private backgroundUpdate(
    name: string,
    conditions: DownloadConditions | undefined,
    ran: { before: string | null; now: string; bytes: { sha256: string; size: number } },
  ): Promise<ModelUpdate> {
    const running = this.updates.get(name);
    if (running) return running;
    const run = (async (): Promise<ModelUpdate> => {
      const { cache } = await this.ready;
      const installed = await cache.installed(name);
      try {
        const signal = this.closing.signal;
        const served = installed?.fallback && sameBytes(installed.fallback, ran.bytes) ? askingAbout(installed, ran.bytes, ran.now) : installed;
        const manifest = await this.resolveManifest(name, served, { signal });
        if (manifest === null) return { updated: false, version: installed!.version, release: installed!.release };
        const p = manifest.payload;
        if (sameModel(installed, p)) {
          // The same model: signed anew (the server's key rotated), or ranked anew for this device
          // (it gained a backend, or its probe missed one when the model was installed).
          const record = await this.updateSameVersion(manifest, installed, { conditions, signal }, ran.before === ran.now);
          return { updated: record !== null, version: p.version, release: p.release };
        }
        const record = await this.fetchBytesOnly(manifest, { conditions, signal });
        return { updated: true, version: record.version, release: record.release };
      } catch (err) {
        return { updated: false, version: installed?.version ?? 0, release: installed?.release ?? 0, error: err as Error };
      }
    })();
    this.updates.set(name, run);
    void run.finally(() => this.updates.delete(name));
    return run;
  }
}

/**
 * The backend installed bytes are for: the one they ran on or, not run yet, the first that
 * `candidates` (their manifest's, or a fresh one) list them on.
 */
function aimOf(installed: InstalledModel, candidates: readonly ManifestCandidate[]): string | undefined {
  return installed.backend ?? candidates.find((c) => sameBytes(c, installed))?.backend;
}

/** `failures` and those of `more` not among them (one per variant and backend), in that order. */
function withFailures(failures: readonly CandidateFailure[], more: Iterable<CandidateFailure>): CandidateFailure[] {
  const all = [...failures];
  const seen = new Set(all.map(failureKey));
  for (const f of more) {
    if (seen.has(failureKey(f))) continue;
    seen.add(failureKey(f));
    all.push(f);
  }
  return all;
}

/**
 * The installed record as the server is asked about it (`cached`) when other bytes it holds, its
 * fallback's, serve this device on `backend`: the answer is a 304 while they are still its best.
 */
function askingAbout(installed: InstalledModel, bytes: { sha256: string; size: number }, backend: string | null): InstalledModel {
  return { ...installed, sha256: bytes.sha256, size: bytes.size, backend };
}

/** The `kid` in a compact JWS's protected header, if it has one. */
function keyIdOf(jws: string): string | undefined {
  try {
    const kid = decodeProtectedHeader(jws).kid;
    return typeof kid === 'string' && kid.length <= 128 ? kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a better variant of the installed version keeps as its fallback: the installed bytes if
 * they ran here, else the fallback they have (bytes fetched and not run yet keep the ones that ran).
 */
function fallbackOf(installed: InstalledModel): InstalledFallback | undefined {
  return installed.backend === null ? installed.fallback : { sha256: installed.sha256, size: installed.size, variant: installed.variant, backend: installed.backend };
}

/**
 * The fallback `previous` keeps, carried over to a record of the same bytes (`candidate`): of the
 * same release and version, or of a new release (the same version rolled out again) that still
 * lists the fallback's bytes. Installed without it, a start without the GPU downloaded them again.
 */
function carriedFallback(previous: InstalledModel | undefined, candidate: ManifestCandidate, p: ManifestPayload): InstalledFallback | undefined {
  const fallback = previous?.fallback;
  if (!previous || !fallback || !sameBytes(previous, candidate) || sameBytes(fallback, candidate)) return undefined;
  return sameModel(previous, p) || p.candidates.some((c) => sameBytes(c, fallback)) ? fallback : undefined;
}

/** The candidates of the installed record's kept manifest (verified when it was installed); none if unreadable. */
function keptCandidates(installed: InstalledModel): readonly ManifestCandidate[] {
  try {
    const candidates = (decodeJwt(installed.jws) as unknown as ManifestPayload).candidates;
    return Array.isArray(candidates) ? candidates : [];
  } catch {
    return [];
  }
}

/** True when `candidates` list the installed bytes on a backend its kept manifest does not. */
function listsMore(candidates: readonly ManifestCandidate[], installed: InstalledModel): boolean {
  const kept = keptCandidates(installed);
  if (!kept.length) return true;
  const on = (list: readonly ManifestCandidate[]) => new Set(list.filter((c) => sameBytes(c, installed)).map((c) => c.backend));
  const before = on(kept);
  return [...on(candidates)].some((b) => !before.has(b));
}

/** Backends a device can have on one start and not the next (a GPU process lost, a driver blocked). */
const GPU_BACKENDS = new Set(['webgpu', 'webnn', 'webgl', 'coreml', 'nnapi']);

/**
 * Whether a fallback's bytes are still worth keeping once the installed bytes ran on `ranOn`: only
 * when that is a GPU and the manifest ranks the fallback on some backend before the installed bytes
 * there, or lists the installed bytes not there at all (a WebGPU-only variant, or an fp32 one that
 * runs on wasm after the int8 fallback: a start without the GPU runs the fallback). Candidates that
 * failed here (`failed`) are passed over, as a start passes them over (fp16 bytes listed on wasm
 * before the int8 fallback, which failed there, leave the fallback first on wasm).
 */
function stillNeeded(
  candidates: readonly ManifestCandidate[],
  fallback: InstalledFallback,
  primary: InstalledModel,
  ranOn: string,
  failed: readonly CandidateFailure[],
): boolean {
  if (!GPU_BACKENDS.has(ranOn)) return false;
  const bad = new Set(failed.map(failureKey));
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.backend) || bad.has(failureKey(c))) continue;
    if (sameBytes(c, primary)) seen.add(c.backend);
    else if (sameBytes(c, fallback)) return true;
  }
  return false;
}

function infoOf(record: InstalledModel): CachedModelInfo {
  return {
    name: record.model,
    version: record.version,
    release: record.release,
    variant: record.variant,
    backend: record.backend,
    size: record.size,
    sha256: record.sha256,
    installedAt: record.installedAt,
  };
}
