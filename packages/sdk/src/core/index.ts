// The platform-free core of the Ferry SDK. Apps import `@ferry/sdk` (browser or Node, picked by
// export conditions); this entry is for new platforms: bring a `Platform` and call `createFerry`.
export { createFerry } from './client/create-ferry.js';
export * from './public-api.js';
// What a platform adapter or a custom runtime needs besides the public API.
export type { CoreFerryOptions } from './client/public-types.js';
export type { ArtifactStore, MetaStore, NetworkState, PlatformStorage, Sha256Hasher, StorageOptions } from './platform.js';
export type { OrtModule } from './inference/ort-types.js';
export type { InferenceRuntime, ModelSession, TensorArray } from './inference/runtime.js';
export { memoryStorage } from './cache/memory-storage.js';
export { freezeCapabilities } from './capabilities.js';
export { portableSha256 } from './hash/sha256.js';
export { SDK_VERSION } from './version.js';
