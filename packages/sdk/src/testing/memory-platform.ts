import { memoryStorage } from '../core/cache/memory-storage.js';
import type { Capabilities, NetworkState, Platform, PlatformStorage } from '../core/platform.js';

export interface MemoryPlatformOptions {
  fetch: typeof fetch;
  /** Shared between clients to simulate an app restart on the same device. */
  storage?: PlatformStorage;
  capabilities?: Partial<Capabilities>;
  network?: NetworkState;
  /** A settable clock (ms since the epoch). */
  clock?: { now: number };
  /** A one-shot SHA-256 for block digests (as browsers have, with WebCrypto). */
  blockSha256?: (bytes: Uint8Array) => Promise<string>;
  /** Download buffers ({@link Platform.uninitializedBytes}), as Node gives them. */
  uninitializedBytes?: (size: number) => Uint8Array;
  /** A quick store (the browser's localStorage), shared between clients like `storage`. */
  quickStore?: Map<string, string>;
  /** Opening the storage waits for this (a slow IndexedDB). */
  storageOpens?: Promise<unknown>;
  /** The probe answers once this settles (a slow WebGPU adapter request). */
  probeAnswers?: Promise<unknown>;
  /** Provisional capabilities ({@link Platform.provisionalCapabilities}), as a browser has. */
  provisional?: Partial<Capabilities>;
}

const PROBED: Capabilities = { platform: 'node', os: 'test-os', backends: ['wasm'], features: ['wasm-simd'], formats: ['onnx'], memoryMB: 4096, cores: 2 };

/**
 * The platform adapter the core's tests use: no browser, no Node API. It proves the core needs
 * nothing beyond the `Platform` interface.
 */
export function createMemoryPlatform(options: MemoryPlatformOptions): Platform & { storage: PlatformStorage; probes: number; network(): NetworkState; networkState: NetworkState } {
  const storage = options.storage ?? memoryStorage();
  const state = { probes: 0 };
  const networkState: NetworkState = { ...options.network };
  return {
    name: 'memory',
    storage,
    networkState,
    get probes() {
      return state.probes;
    },
    fetch: options.fetch,
    now: () => options.clock?.now ?? Date.now(),
    monotonic: () => performance.now(),
    async probeCapabilities() {
      state.probes++;
      await options.probeAnswers;
      return { ...PROBED, ...options.capabilities };
    },
    ...(options.provisional ? { provisionalCapabilities: () => ({ ...PROBED, ...options.provisional }) } : {}),
    async openStorage() {
      await options.storageOpens;
      return storage;
    },
    ...(options.quickStore
      ? {
          openQuickStore: ({ namespace }) => ({
            get: (key) => options.quickStore!.get(`${namespace}:${key}`),
            set: (key, value) => void options.quickStore!.set(`${namespace}:${key}`, value),
          }),
        }
      : {}),
    network: () => networkState,
    ...(options.blockSha256 ? { blockSha256: options.blockSha256 } : {}),
    ...(options.uninitializedBytes ? { uninitializedBytes: options.uninitializedBytes } : {}),
  };
}
