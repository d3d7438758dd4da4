import type { IoSignature, ManifestPayload } from '@ferry/protocol';
import type { CandidateFailure } from '../errors.js';
import type { DownloadProgress } from '../download/artifact-download.js';
import type { RetryOptions } from '../http/retry.js';
import type { InferenceRuntime, TensorLike } from '../inference/runtime.js';
import type { OrtOptions } from '../inference/ort-runtime.js';
import type { TrustedKeys } from '../manifest/key-ring.js';
import type { Capabilities, Platform, PlatformStorage } from '../platform.js';
import type { Classification } from '../processing/classification.js';
import type { TelemetryOptions } from '../telemetry/telemetry-client.js';

/** Cache settings. */
export interface CacheOptions {
  /** Byte budget of cached models, across models; least recently used are evicted first. @defaultValue 1 GiB */
  maxBytes?: number;
  /**
   * Node: the cache directory (default `$XDG_CACHE_HOME/ferry` or `~/.cache/ferry`). Browser: a
   * prefix of the IndexedDB database's name (OPFS artifacts are kept in `ferry/<namespace>`
   * whatever it is: separate caches by `namespace`).
   */
  location?: string;
  /** Separates the caches of several apps or servers on one device. @defaultValue 'default' */
  namespace?: string;
  /** Browser: ask for persistent storage (`navigator.storage.persist()`) so the cache survives storage pressure. @defaultValue false */
  persist?: boolean;
  /** Use these stores instead of the platform's (tests, custom storage). */
  storage?: PlatformStorage;
}

/** Settings of {@link createFerry}. */
export interface FerryOptions {
  /** Base URL of the Ferry server, such as `https://models.example.com`. */
  serverUrl: string;
  /** The app key this app ships with (sent as `X-Ferry-App-Key`). */
  appKey: string;
  /**
   * The app key's id (`ak_…`, listed next to the key by the admin API), also accepted as a
   * manifest's audience. Ferry issues manifests to the app key itself (`aud` = `appKey`); any
   * other audience is refused (mix-and-match).
   */
  appKeyId?: string;
  /** Public key(s) manifests must be signed with (pinned). Give this, `jwksUrl`, or both. */
  trustedKeys?: TrustedKeys;
  /** A JWKS URL (over TLS) or a server path such as `/v1/keys`; fetched on first use, kept for offline starts. */
  jwksUrl?: string;
  /** Cache settings; `false` keeps models in memory only. */
  cache?: CacheOptions | false;
  /** Telemetry settings; `false` turns it off. */
  telemetry?: TelemetryOptions | false;
  /** The fetch to use for every request. @defaultValue the platform's HTTP client: Node's is `node:http`, browsers' is `fetch` */
  fetch?: typeof fetch;
  /** What the app tells the server about itself (targeting of rollouts). */
  app?: { version?: string; country?: string; deviceClass?: string };
  /** ONNX Runtime settings (wasm paths of bundled apps, threads). */
  ort?: OrtOptions;
  /** Another inference runtime instead of onnxruntime-web. */
  runtime?: InferenceRuntime;
  /** Retries of requests and downloads. */
  retry?: RetryOptions;
  /** Time limit of a resolve or keys request, in ms. @defaultValue 15000 */
  requestTimeoutMs?: number;
  /** A download attempt with no byte for this long is dropped and resumed, in ms. @defaultValue 30000 */
  stallTimeoutMs?: number;
  /** Allowed clock difference with the server when checking manifest expiry, in seconds. @defaultValue 60 */
  clockSkewSeconds?: number;
}

/** {@link FerryOptions} plus the platform adapter, for `@ferry/sdk/core`. */
export interface CoreFerryOptions extends FerryOptions {
  platform: Platform;
}

/**
 * When a model is downloaded, as Firebase ML had it:
 * - `local`: the cached model if there is one (no network), else the latest;
 * - `local-then-update`: the cached model now, and the latest fetched in the background for next time;
 * - `latest`: ask the server first and wait for the newest (the cached one when offline).
 */
export type DownloadPolicy = 'local' | 'local-then-update' | 'latest';

/** Conditions a download must meet; otherwise the cached model is served (or `DownloadSkippedError`). */
export interface DownloadConditions {
  /** Largest download allowed, in bytes. Smaller candidates are preferred when the best is larger. */
  maxBytes?: number;
  /** Download on metered networks and with Save-Data on. @defaultValue true */
  allowMetered?: boolean;
}

/** Options of {@link Ferry.getModel}. */
export interface GetModelOptions {
  /** @defaultValue 'local-then-update' */
  policy?: DownloadPolicy;
  conditions?: DownloadConditions;
  /** Cancels the download (and the wait); the cache keeps its last verified model. */
  signal?: AbortSignal;
  /** Download progress, as bytes arrive. */
  onProgress?: (progress: DownloadProgress) => void;
}

/** Options of {@link Ferry.prefetch}. */
export type PrefetchOptions = Omit<GetModelOptions, 'policy'>;

/** Outcome of a background update (`local-then-update`). */
export interface ModelUpdate {
  /** True when a newer model, or a variant of the same version that suits this device better, was downloaded and installed: the next `getModel` serves it. */
  updated: boolean;
  version: number;
  release: number;
  /** Set when the update failed; the cached model stays. */
  error?: Error;
}

/** Options of {@link FerryModel.classify}. */
export interface ClassifyOptions {
  /** Classes returned. @defaultValue the model's `postprocessing.topK`, else 5 */
  topK?: number;
}

/** A verified model, loaded on a backend, ready to run. */
export interface FerryModel {
  readonly name: string;
  readonly version: number;
  readonly release: number;
  readonly variant: string;
  readonly precision: string;
  /** The backend it runs on (`webgpu`, `webgl`, `wasm`, …). */
  readonly backend: string;
  readonly sha256: string;
  readonly size: number;
  readonly io: IoSignature | null;
  readonly metadata: ManifestPayload['metadata'];
  readonly labels: readonly string[] | undefined;
  readonly rollout: ManifestPayload['rollout'];
  /** `cache` when the bytes came from the device, `network` when downloaded now. */
  readonly source: 'cache' | 'network';
  /** True when the newest could not be fetched (offline, conditions) and the cached one is served. */
  readonly stale: boolean;
  /** Candidates tried before this one, and why they were not used. */
  readonly failures: readonly CandidateFailure[];
  /** The background update of `local-then-update`; null for the other policies. */
  readonly update: Promise<ModelUpdate> | null;
  /** Runs the model. Feeds are runtime tensors or `{type, data, dims}` objects. */
  run(feeds: Record<string, unknown>): Promise<Record<string, TensorLike>>;
  /** Preprocesses an image as the model's metadata says, runs, and returns the top classes. */
  classify(image: unknown, options?: ClassifyOptions): Promise<Classification[]>;
  /** Releases the session when no other handle uses it. */
  dispose(): Promise<void>;
}

/** A model kept on the device. */
export interface CachedModelInfo {
  name: string;
  version: number;
  release: number;
  variant: string;
  backend: string | null;
  size: number;
  sha256: string;
  installedAt: number;
}

/** The cache's storage and usage. */
export interface CacheInfo {
  kind: string;
  usedBytes: number;
  maxBytes: number;
}

/** The Ferry client. */
export interface Ferry {
  /**
   * What the device can do, probed once. Backends missing from `ort.backends` are not probed
   * (the default list has no WebGL, as the default `onnxruntime-web` build has none).
   */
  capabilities(): Promise<Readonly<Capabilities>>;
  /** Resolves, downloads, verifies, caches and loads a model as `policy` says. */
  getModel(name: string, options?: GetModelOptions): Promise<FerryModel>;
  /** Downloads and verifies the latest model into the cache without loading it. */
  prefetch(name: string, options?: PrefetchOptions): Promise<CachedModelInfo>;
  listCachedModels(): Promise<CachedModelInfo[]>;
  /** What backs the cache (`directory`, `opfs`, `indexeddb`, `memory`) and how full it is. */
  cacheInfo(): Promise<CacheInfo>;
  /** Deletes a cached model; true when there was one. Its release counter is kept (rollback protection). */
  deleteCachedModel(name: string): Promise<boolean>;
  /** Telemetry on or off (remembered on the device), and sending what is queued now. */
  readonly telemetry: { readonly enabled: boolean; setEnabled(enabled: boolean): Promise<void>; flush(): Promise<void> };
  /** Stops background updates still under way, sends pending telemetry, releases sessions and timers, finishes cache writes. */
  close(): Promise<void>;
}
