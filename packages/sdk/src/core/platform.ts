/**
 * The platform adapter: everything the core needs from the place it runs in. The core never
 * touches `window`, `navigator`, `process` or `node:*`; the browser and Node entry points build
 * one of these, and tests use the in-memory one in `src/testing/`.
 */
import type { HttpFetch } from './http/transport.js';
import type { OrtModule } from './inference/ort-types.js';

/**
 * What the device can do, probed once by {@link Platform.probeCapabilities} and frozen by the core.
 * `backends` and `features` use the names of the device API (`webgpu`, `wasm`, `shader-f16`, …).
 */
export interface Capabilities {
  /** `device.platform` of resolve requests: `web`, `node`, … */
  readonly platform: string;
  /** Operating system, such as `linux 6.1` or `Android 14`. */
  readonly os?: string | undefined;
  /** CPU architecture, such as `x64` or `arm64`, when known. */
  readonly arch?: string | undefined;
  /** The JavaScript runtime, such as `{name: 'node', version: '20.20.2'}` or `{name: 'chromium', version: '156'}`. */
  readonly runtime?: { readonly name: string; readonly version: string } | undefined;
  /**
   * Execution backends that work here, best first. Backends the client's inference runtime cannot
   * use may be left out unprobed ({@link ProbeOptions}).
   */
  readonly backends: readonly string[];
  /** Features such as `shader-f16`, `wasm-simd`, `wasm-threads`. */
  readonly features: readonly string[];
  /** Model formats the SDK can run here. */
  readonly formats: readonly string[];
  /** Device memory in MB (browsers round it). */
  readonly memoryMB?: number | undefined;
  /** Logical CPU cores. */
  readonly cores?: number | undefined;
  /** Storage still free for the cache, in MB, when known. */
  readonly storageMB?: number | undefined;
  /** True when `crossOriginIsolated` (browsers) or threads are otherwise allowed. */
  readonly crossOriginIsolated?: boolean | undefined;
}

/** What the core tells {@link Platform.probeCapabilities}. */
export interface ProbeOptions {
  /**
   * True for the backends the client's inference runtime can use. A platform may skip probing
   * others: no model could run on them here, and some probes are not free (a WebGL context may
   * start the GPU process, and holds GPU memory until it is collected; so may a WebGPU adapter
   * request). Absent: probe everything.
   */
  runtimeSupports?(backend: string): boolean;
  /** The cache the client keeps on the platform's own storage, if any: its free space is the one that counts. */
  storage?: StorageOptions;
}

/** Network conditions, as far as the platform can tell. Unknown fields are left out. */
export interface NetworkState {
  /** False when the platform knows it is offline. */
  online?: boolean;
  /** True on a metered link (cellular). */
  metered?: boolean;
  /** True when the user asked to save data (`Save-Data`). */
  saveData?: boolean;
}

/**
 * Artifact bytes by key (the SHA-256 of the bytes). `put` is all-or-nothing: a reader sees the
 * old entry, the new one, or none, never a half-written one. A full store rejects with an error
 * whose `name` is `QuotaExceededError`; the core then evicts and retries.
 */
export interface ArtifactStore {
  match(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  list(): Promise<{ key: string; size: number }[]>;
  /**
   * Optional `match` that feeds `hasher` every byte it returns, in order, as they are read, so
   * that hashing overlaps the I/O. The core still checks the digest: the returned bytes must be
   * exactly those hashed.
   */
  matchHashing?(key: string, hasher: Sha256Hasher): Promise<Uint8Array | undefined>;
  /**
   * Optional: a writer that stores an entry of `size` bytes while they download. Nothing is
   * visible under `key` before `commit` (which the core calls only once the bytes are verified).
   */
  writer?(key: string, size: number): ArtifactWriter;
}

/** Bytes written as they arrive, made an artifact all at once by `commit`, or dropped by `abort`. */
export interface ArtifactWriter {
  /** Appends `chunk`, which must not change afterwards; a failure surfaces in `commit`. */
  write(chunk: Uint8Array): void;
  /** Makes what was written the entry, atomically. A full store rejects with a `QuotaExceededError`-named error. */
  commit(): Promise<void>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

/** A small key-value store for JSON values: release counters, installed models, telemetry queue. */
export interface MetaStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}

/** An Ed25519 public key as JWK ({@link Platform.verifyEd25519}). */
export interface Ed25519PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  /** The public key, base64url. */
  x: string;
  kid?: string;
}

/** The two stores of one cache, and what backs them (for diagnostics). */
export interface PlatformStorage {
  /** `directory`, `opfs`, `indexeddb`, `memory`, … */
  readonly kind: string;
  readonly artifacts: ArtifactStore;
  readonly meta: MetaStore;
  /**
   * Optional: runs `section` holding a lock of this cache shared by every client that can open it
   * (the browser's: other tabs and workers of the origin, through Web Locks; Node's: other clients
   * of the process, then other processes, through a lock directory). The core holds it where it
   * reads, changes and writes back the cache's records (installs, evictions, deletes, use times,
   * release counters, the telemetry queue), so that another client's writes never land between
   * its read and its write. Without it, only the client's own writes are ordered.
   */
  exclusive?<T>(section: () => Promise<T>): Promise<T>;
}

/** An incremental SHA-256. */
export interface Sha256Hasher {
  update(chunk: Uint8Array): void;
  /** Lowercase hex digest; the hasher is done after this. */
  digestHex(): string;
}

/** RGBA pixels, 8 bits per channel, row-major: what `ImageData` holds. */
export interface Pixels {
  readonly data: Uint8ClampedArray | Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Channels per pixel in `data`: 4 (RGBA, default), 3 (RGB) or 1 (gray). */
  readonly channels?: 1 | 3 | 4;
}

/**
 * A small synchronous store of strings (the browser's `localStorage`), read before the cache's
 * stores are open. Best effort: a store that refuses a write keeps nothing, silently.
 */
export interface QuickStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

/** Options the core passes when it opens the stores. */
export interface StorageOptions {
  /** Separates caches of different apps or servers on one device. */
  namespace: string;
  /** A directory (Node) or name (browser) the app chose, when it chose one. */
  location?: string | undefined;
}

/**
 * The platform adapter. Implement it to run Ferry somewhere new (a worker, React Native,
 * an embedded runtime); see README "Platform adapter".
 */
export interface Platform {
  /** `device.platform` in resolve requests: `web`, `node`, … */
  readonly name: string;
  /** The fetch used for every request unless the app passes its own (or the platform has {@link http}). */
  fetch: typeof fetch;
  /**
   * Optional: an HTTP client used in place of {@link fetch} where the app passes no `fetch` of its
   * own, where the platform has a faster one. Node's is `node:http`: Node's `fetch` loads its
   * implementation on a process's first request (62–84 ms for that request here, 14–19 ms with
   * `node:http`), and its chunks go through web streams (a 7 MiB body read, hashed and copied
   * chunk by chunk took 16.2 ms with `fetch`, 12.0 ms with `node:http`; a small JSON answer 1.6
   * against 1.1 ms).
   */
  readonly http?: HttpFetch;
  /**
   * Extra `fetch` options for artifact downloads. The browser's is `{ cache: 'no-store' }`: the
   * SDK keeps its own verified copy, and a second one in the HTTP cache would cost the disk space
   * and the writes of every model again. Leave it out where `cache` means something else (React
   * Native's fetch polyfill turns `no-store` into a query parameter that defeats CDN caching).
   */
  readonly artifactFetchInit?: Pick<RequestInit, 'cache'>;
  /**
   * True where downloads should read response bodies into a reusable buffer (a BYOB reader, when
   * the body is a byte stream) instead of taking the chunks the default reader allocates. The
   * browser's: in Chromium here a 7 MiB body read so took 16.7 ms against 27.5 ms (no buffer
   * allocated per chunk). Node leaves it out: its default reader hands over buffers it already
   * has, and a BYOB read copies them once more (~1.4 ms slower per 7 MiB load here).
   */
  readonly byobDownloads?: boolean;
  /**
   * Optional: `size` bytes that need not be zeroed (Node's `Buffer.allocUnsafeSlow`), for a
   * download's buffer, which the SDK fills completely before anything reads it (a short download
   * is a failure, and its buffer is dropped). Zeroing a 7 MiB buffer took ~0.7 ms of a cold load's
   * main thread here. Without it, a `new Uint8Array(size)`.
   */
  uninitializedBytes?(size: number): Uint8Array;
  /** Wall-clock milliseconds since the epoch (manifest expiry, telemetry timestamps). */
  now(): number;
  /** Monotonic milliseconds for durations. */
  monotonic(): number;
  /** Probes the device; called once per client, the result is frozen. */
  probeCapabilities(options?: ProbeOptions): Promise<Capabilities>;
  /**
   * Optional, where probing takes a while: what {@link probeCapabilities} may find, known at
   * once. Every backend and feature the probe may find must be in it (one it cannot rule out
   * yet is listed); values it cannot know yet are left out. A device's first resolve describes
   * it so instead of waiting for the probe: the browser's WebGPU adapter request took 20–50 ms
   * on a page's first ask in Chromium here. The server then lists candidates for at least what
   * the device has, and the SDK picks among them with the probe's answer, as always.
   */
  provisionalCapabilities?(options?: ProbeOptions): Capabilities;
  /** Opens the persistent stores (falling back to memory if nothing persistent works). */
  openStorage(options: StorageOptions): Promise<PlatformStorage>;
  /**
   * Optional: a {@link QuickStore} for the cache of `options`, or null where there is none. The
   * core keeps a copy of the install id in it. A device's first start is then known at once (no
   * install id yet, so nothing is cached): its first load sends the resolve request without
   * waiting for the cache to open (IndexedDB and OPFS take a few ms to open on a fast desktop,
   * more on phones). The meta store stays the record: where the two differ, it wins.
   */
  openQuickStore?(options: StorageOptions): QuickStore | null;
  /** Current network conditions. */
  network(): NetworkState;
  /** Calls `listener` when the app goes to the background or the page is hidden; returns an unsubscribe. */
  onHide?(listener: () => void): () => void;
  /** Asks the platform to keep the cache under storage pressure (`navigator.storage.persist()`). */
  persistStorage?(): Promise<boolean>;
  /**
   * A native incremental SHA-256 (Node's `crypto`), if any: used for downloads and cached bytes.
   * Without it downloads use WebAssembly (hash-wasm), else `@noble/hashes`; cached bytes WebCrypto.
   */
  createSha256?(): Sha256Hasher;
  /**
   * A one-shot SHA-256 (hex) that runs off the main thread (the browser's WebCrypto), if any. A
   * download whose manifest lists block digests checks each block with it as soon as the block has
   * arrived, in place of the incremental hash on the main thread (hash-wasm hashes ~400 MB/s there,
   * WebCrypto several times that); the whole artifact is hashed once more, off the load's path,
   * before it is cached. Node leaves it out: its native incremental hash is as fast.
   */
  blockSha256?(bytes: Uint8Array): Promise<string>;
  /**
   * Checks an Ed25519 signature at once, with the platform's native crypto (Node's `crypto.verify`),
   * if it has one: true when `signature` is `key`'s over `data`. Manifests are then checked without
   * WebCrypto, whose calls in Node each wait for a thread-pool round trip (0.3–2 ms measured on a
   * cold load, against ~0.1 ms). `key` is a public JWK (`kty` OKP, `crv` Ed25519) from the pinned
   * keys or the JWKS. Without it, jose checks them with WebCrypto. Used by the `createFerry` of
   * `@ferry/sdk/core` and of the Node entry; the browser entry's leaves it out (and its code).
   */
  verifyEd25519?(key: Ed25519PublicJwk, data: Uint8Array, signature: Uint8Array): boolean;
  /** Loads `onnxruntime-web`; the core calls it on the first model load only. */
  loadOrt?(): Promise<OrtModule>;
  /** Turns platform images (canvas, `ImageBitmap`, `<img>`, …) into RGBA pixels. */
  toPixels?(image: unknown): Promise<Pixels>;
}
