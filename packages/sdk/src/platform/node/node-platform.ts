import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { arch, availableParallelism, homedir, platform as osPlatform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { OrtModule } from '../../core/inference/ort-types.js';
import type { Capabilities, Ed25519PublicJwk, Platform, ProbeOptions, Sha256Hasher, StorageOptions } from '../../core/platform.js';
import { wasmFeatures } from '../shared/wasm-features.js';
import { openDirectoryQuickStore, openDirectoryStorage } from './file-storage.js';
import { nodeHttp } from './node-http.js';

/** Options of {@link createNodePlatform}. */
export interface NodePlatformOptions {
  /** Default cache root when the app gives no `cache.location`. @defaultValue `$XDG_CACHE_HOME/ferry` or `~/.cache/ferry` */
  cacheRoot?: string;
}

/** The default cache root of Node apps. */
export function defaultCacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry');
}

/** The Node platform adapter: `node:http` (see {@link nodeHttp}), a cache directory, `node:crypto` hashing, onnxruntime-web's wasm backend. */
export function createNodePlatform(options: NodePlatformOptions = {}): Platform {
  const root = options.cacheRoot ?? defaultCacheRoot();
  /** Imported keys by their public key (`x`): a JWK is imported once per platform. */
  const publicKeys = new Map<string, KeyObject>();
  /** A cache's directory: `<location or the default root>/<namespace>`. */
  const cacheDir = (storage: StorageOptions) => join(storage.location ?? root, storage.namespace);
  return {
    name: 'node',
    fetch: (input, init) => globalThis.fetch(input, init),
    http: nodeHttp,
    uninitializedBytes: (size) => {
      // A plain Uint8Array over the buffer's own memory (unpooled: exactly `size` bytes), not a Buffer.
      const buffer = Buffer.allocUnsafeSlow(size);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
    },
    now: () => Date.now(),
    monotonic: () => performance.now(),
    async probeCapabilities(options?: ProbeOptions): Promise<Capabilities> {
      return { ...nodeCapabilities(), storageMB: freeStorageMB(options?.storage ? cacheDir(options.storage) : root) };
    },
    // Everything but the free space, which a first start's resolve does not wait for.
    provisionalCapabilities: () => nodeCapabilities(),
    openStorage(storage: StorageOptions) {
      return openDirectoryStorage(cacheDir(storage));
    },
    openQuickStore: (storage) => openDirectoryQuickStore(cacheDir(storage)),
    network: () => ({}),
    createSha256(): Sha256Hasher {
      const hash = createHash('sha256');
      return {
        update: (chunk) => void hash.update(chunk),
        digestHex: () => hash.digest('hex'),
      };
    },
    loadOrt: loadOrtOnce,
    verifyEd25519(key: Ed25519PublicJwk, data: Uint8Array, signature: Uint8Array): boolean {
      let publicKey = publicKeys.get(key.x);
      if (!publicKey) {
        publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' });
        publicKeys.set(key.x, publicKey);
      }
      return verify(null, data, publicKey, signature);
    },
  };
}

/**
 * The free space of the file system `dir` is on (the nearest directory of its path that exists:
 * a new cache is made by its first write), asked synchronously: statfs reads the file system's
 * counters (tens of µs), and a first start's download of the model starts once the probe is done,
 * where a thread-pool round trip took 1–3 ms here while the resolve was in flight.
 */
function freeStorageMB(dir: string): number | undefined {
  let start: string;
  try {
    start = resolve(dir); // A relative one needs the working directory, which may be gone.
  } catch {
    return undefined;
  }
  for (let path = start; ; path = dirname(path)) {
    try {
      const s = statfsSync(path);
      return Math.floor((s.bavail * s.bsize) / (1024 * 1024));
    } catch {
      if (dirname(path) === path) return undefined;
    }
  }
}

/** What Node tells synchronously about the machine (everything a probe finds but the free space). */
function nodeCapabilities(): Capabilities {
  const wasm = wasmFeatures();
  return {
    platform: 'node',
    os: `${osPlatform()} ${release()}`,
    arch: arch(),
    runtime: { name: 'node', version: process.versions.node },
    // onnxruntime-web runs the wasm backend in Node ("cpu" is its alias).
    backends: ['wasm', 'cpu'],
    features: [...(wasm.simd ? ['wasm-simd'] : []), ...(wasm.threads ? ['wasm-threads'] : [])],
    formats: ['onnx'],
    memoryMB: Math.floor(totalmem() / (1024 * 1024)),
    cores: availableParallelism(),
    crossOriginIsolated: true,
  };
}

let ortModule: Promise<OrtModule> | null = null;

/** Imports onnxruntime-web once per process (an `import()` per client costs ~1 ms under module loader hooks). */
async function loadOrtOnce(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-web').then((ort: OrtModule & { default?: OrtModule }) => (ort.InferenceSession ? ort : ort.default!));
  ortModule.catch(() => {
    ortModule = null;
  });
  const m = await ortModule;
  // Worker threads of the wasm backend buy little for small models in Node and keep the process alive.
  m.env.wasm.numThreads = 1;
  return m;
}
