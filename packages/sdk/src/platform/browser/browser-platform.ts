import { MemoryArtifactStore, MemoryMetaStore } from '../../core/cache/memory-storage.js';
import type { OrtModule } from '../../core/inference/ort-types.js';
import type { NetworkState, Pixels, Platform, PlatformStorage, QuickStore, StorageOptions } from '../../core/platform.js';
import { webCryptoSha256 } from '../../core/hash/sha256.js';
import { probeBrowserCapabilities, provisionalBrowserCapabilities } from './browser-capabilities.js';
import { IndexedDbArtifactStore, IndexedDbMetaStore, openFerryDatabase } from './idb-storage.js';
import { OpfsArtifactStore, opfsDirectory, opfsWritable } from './opfs-storage.js';

/** Where the browser keeps models. */
export type BrowserStorageKind = 'auto' | 'opfs' | 'indexeddb' | 'memory';

/** Options of {@link createBrowserPlatform}. */
export interface BrowserPlatformOptions {
  /** `auto`: OPFS where it can be written, IndexedDB otherwise, memory as a last resort. @defaultValue 'auto' */
  storage?: BrowserStorageKind;
  /** Loads onnxruntime-web (e.g. `() => import('onnxruntime-web/all')` for WebGL). @defaultValue `import('onnxruntime-web')` */
  loadOrt?: () => Promise<OrtModule>;
}

interface NetworkInformation {
  type?: string;
  saveData?: boolean;
}

async function openStorage(kind: BrowserStorageKind, options: StorageOptions): Promise<PlatformStorage> {
  const prefix = options.location ?? 'ferry';
  const memory = (): PlatformStorage => ({ kind: 'memory', artifacts: new MemoryArtifactStore(), meta: new MemoryMetaStore() });
  if (kind === 'memory' || typeof indexedDB === 'undefined') return memory();
  // The database and the OPFS directory are opened side by side: each is a few round trips to
  // the browser's storage process.
  const opening = openFerryDatabase(`${prefix}-${options.namespace}`);
  // OPFS can be refused (private browsing in some browsers): IndexedDB it is.
  const directory = (kind === 'auto' || kind === 'opfs') && opfsWritable() ? opfsDirectory(options.namespace).catch(() => null) : null;
  let db: IDBDatabase;
  try {
    db = await opening;
  } catch {
    return memory();
  }
  const meta = new IndexedDbMetaStore(db);
  // Named after the namespace, which every tab and worker on this cache uses: the OPFS directory
  // is `ferry/<namespace>` whatever the database's prefix (`cache.location`).
  const locks = (navigator as { locks?: LockManager }).locks;
  const name = `ferry-cache/${options.namespace}`;
  const shared = locks ? { exclusive: <T>(section: () => Promise<T>) => locks.request(name, section) as Promise<T> } : {};
  const dir = await directory;
  if (dir) return { kind: 'opfs', artifacts: new OpfsArtifactStore(dir), meta, ...shared };
  return { kind: 'indexeddb', artifacts: new IndexedDbArtifactStore(db), meta, ...shared };
}

/**
 * `localStorage`, under keys of the cache's namespace. Null where there is none (workers) or it is
 * refused (storage blocked: reading `localStorage` throws).
 */
function openQuickStore(kind: BrowserStorageKind, options: StorageOptions): QuickStore | null {
  if (kind === 'memory') return null;
  let local: Storage | undefined;
  try {
    local = (globalThis as { localStorage?: Storage }).localStorage;
  } catch {
    return null;
  }
  if (!local) return null;
  const prefix = `${options.location ?? 'ferry'}-${options.namespace}:`;
  return {
    get(key) {
      try {
        return local.getItem(prefix + key) ?? undefined;
      } catch {
        return undefined;
      }
    },
    set(key, value) {
      try {
        local.setItem(prefix + key, value);
      } catch {
        // Full or refused: the meta store keeps the value.
      }
    },
  };
}

async function toPixels(image: unknown): Promise<Pixels> {
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) return image;
  let source: CanvasImageSource | ImageBitmap;
  if (typeof Blob !== 'undefined' && image instanceof Blob) source = await createImageBitmap(image);
  else if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    if (!image.complete) await image.decode();
    source = image;
  } else source = image as CanvasImageSource;
  const { width, height } = sizeOf(source);
  if (!width || !height) throw new TypeError('classify() takes ImageData, a canvas, an ImageBitmap, an <img>, a <video>, a Blob, or {data, width, height}');
  if (isCanvas(source)) {
    const ctx = (source as HTMLCanvasElement).getContext('2d') as CanvasRenderingContext2D | null;
    if (ctx) return ctx.getImageData(0, 0, width, height);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

function isCanvas(v: unknown): boolean {
  return (typeof HTMLCanvasElement !== 'undefined' && v instanceof HTMLCanvasElement) || (typeof OffscreenCanvas !== 'undefined' && v instanceof OffscreenCanvas);
}

function sizeOf(source: unknown): { width: number; height: number } {
  const s = source as { naturalWidth?: number; naturalHeight?: number; videoWidth?: number; videoHeight?: number; width?: number; height?: number };
  return { width: s.naturalWidth || s.videoWidth || s.width || 0, height: s.naturalHeight || s.videoHeight || s.height || 0 };
}

/** The browser platform adapter: fetch, OPFS / IndexedDB, navigator probes, page-hide, canvas images. */
export function createBrowserPlatform(options: BrowserPlatformOptions = {}): Platform {
  // Not in insecure contexts (plain http off localhost): downloads then hash the whole stream.
  const blockSha256 = webCryptoSha256();
  return {
    name: 'web',
    fetch: (input, init) => globalThis.fetch(input, init),
    // Models are kept in OPFS / IndexedDB, verified: not a second time in the HTTP cache.
    artifactFetchInit: { cache: 'no-store' },
    // Bodies read into one buffer instead of a new one per chunk (see Platform.byobDownloads).
    byobDownloads: true,
    now: () => Date.now(),
    monotonic: () => performance.now(),
    probeCapabilities: probeBrowserCapabilities,
    provisionalCapabilities: provisionalBrowserCapabilities,
    ...(blockSha256 ? { blockSha256 } : {}),
    openStorage: (storage) => openStorage(options.storage ?? 'auto', storage),
    openQuickStore: (storage) => openQuickStore(options.storage ?? 'auto', storage),
    network(): NetworkState {
      const connection = (navigator as { connection?: NetworkInformation }).connection;
      return {
        online: navigator.onLine,
        ...(connection?.type ? { metered: connection.type === 'cellular' } : {}),
        ...(connection?.saveData !== undefined ? { saveData: connection.saveData } : {}),
      };
    },
    onHide(listener) {
      if (typeof document === 'undefined') return () => undefined;
      const onVisibility = () => document.visibilityState === 'hidden' && listener();
      document.addEventListener('visibilitychange', onVisibility);
      window.addEventListener('pagehide', listener);
      return () => {
        document.removeEventListener('visibilitychange', onVisibility);
        window.removeEventListener('pagehide', listener);
      };
    },
    async persistStorage() {
      return (await navigator.storage?.persist?.()) ?? false;
    },
    loadOrt:
      options.loadOrt ??
      (async () => {
        const ort = (await import('onnxruntime-web')) as OrtModule & { default?: OrtModule };
        return ort.InferenceSession ? ort : ort.default!;
      }),
    toPixels,
  };
}
