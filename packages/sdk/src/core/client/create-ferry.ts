import { ed25519JwsCheck } from '../manifest/native-check.js';
import { createFerryClient } from './ferry-client.js';
import type { CoreFerryOptions, Ferry } from './public-types.js';

/**
 * The Ferry client over a platform adapter. Browser and Node apps use `createFerry` from
 * `@ferry/sdk`, which brings its platform; this one is for other platforms and tests. A platform
 * with a native Ed25519 check (`verifyEd25519`) has manifests checked with it.
 *
 * @example
 * ```ts
 * const ferry = createFerry({ platform, serverUrl, appKey, trustedKeys });
 * const model = await ferry.getModel('digits', { policy: 'latest' });
 * ```
 */
export function createFerry(options: CoreFerryOptions): Ferry {
  // (`platform` missing: the client's own checks say so.)
  const platform = options.platform as CoreFerryOptions['platform'] | undefined;
  return createFerryClient(options, platform?.verifyEd25519 ? ed25519JwsCheck(platform.verifyEd25519.bind(platform)) : undefined);
}
