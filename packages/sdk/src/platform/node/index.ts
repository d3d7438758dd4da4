// @ferry/sdk for Node: the core with the Node platform (cache directory, node:crypto, onnxruntime-web wasm).
import { createFerry as createCoreFerry } from '../../core/client/create-ferry.js';
import type { Ferry, FerryOptions } from '../../core/client/public-types.js';
import type { Platform } from '../../core/platform.js';
import { createNodePlatform } from './node-platform.js';

/**
 * Creates a Ferry client for Node. Models are cached under `cache.location`
 * (default `~/.cache/ferry`), verified, and run with onnxruntime-web's wasm backend.
 *
 * @example
 * ```ts
 * import { createFerry } from '@ferry/sdk';
 * const ferry = createFerry({ serverUrl: 'http://127.0.0.1:8080', appKey, jwksUrl: '/v1/keys' });
 * const model = await ferry.getModel('digits', { policy: 'latest' });
 * const out = await model.run({ input: { type: 'float32', data: new Float32Array(784), dims: [1, 784] } });
 * ```
 */
export function createFerry(options: FerryOptions & { platform?: Platform }): Ferry {
  return createCoreFerry({ ...options, platform: options.platform ?? createNodePlatform() });
}

export { createNodePlatform, defaultCacheRoot, type NodePlatformOptions } from './node-platform.js';
export { openDirectoryStorage } from './file-storage.js';
export * from '../../core/public-api.js';
