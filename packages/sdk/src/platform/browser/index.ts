// @ferry/sdk for browsers: the core with the browser platform (OPFS / IndexedDB, WebGPU / WebGL / wasm).
import { createFerryClient as createCoreFerry } from '../../core/client/ferry-client.js';
import type { Ferry, FerryOptions } from '../../core/client/public-types.js';
import type { Platform } from '../../core/platform.js';
import { createBrowserPlatform, type BrowserStorageKind } from './browser-platform.js';

/**
 * Creates a Ferry client for web pages and workers. Models are cached in OPFS (IndexedDB where
 * OPFS cannot be written), verified, and run with onnxruntime-web on the best backend that works.
 * A `platform` given here replaces the browser's, except its `verifyEd25519`, which this entry
 * leaves out of browser bundles (`createFerry` of `@ferry/sdk/core` uses it).
 *
 * @example
 * ```ts
 * import { createFerry } from '@ferry/sdk';
 * const ferry = createFerry({ serverUrl: location.origin, appKey, jwksUrl: '/v1/keys', ort: { wasmPaths: '/ort/' } });
 * const model = await ferry.getModel('digits', { onProgress: (p) => bar.value = p.bytes / p.total });
 * const [best] = await model.classify(canvas);
 * ```
 */
export function createFerry(options: FerryOptions & { platform?: Platform; storage?: BrowserStorageKind }): Ferry {
  const { storage, ...rest } = options;
  return createCoreFerry({ ...rest, platform: options.platform ?? createBrowserPlatform({ storage }) });
}

export { createBrowserPlatform, type BrowserPlatformOptions, type BrowserStorageKind } from './browser-platform.js';
export * from '../../core/public-api.js';
