import { Type, type Static } from 'typebox';
import { Encoding, IoSignature, VariantRequires } from './models.js';

/** Execution backends a device can offer, best first as the SDK sees it. */
export const BACKENDS = ['webgpu', 'webnn', 'webgl', 'wasm', 'cpu', 'nnapi', 'coreml', 'tflite'] as const;
export type Backend = (typeof BACKENDS)[number];

export const DeviceCapabilities = Type.Object(
  {
    backends: Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 }),
    features: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
    formats: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 })),
    memoryMB: Type.Optional(Type.Number({ minimum: 0 })),
    cores: Type.Optional(Type.Integer({ minimum: 0, maximum: 4096 })),
    storageMB: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: true },
);
export type DeviceCapabilities = Static<typeof DeviceCapabilities>;

export const Device = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    platform: Type.String({ minLength: 1, maxLength: 32, description: 'web, android, ios, node, …' }),
    os: Type.Optional(Type.String({ maxLength: 64 })),
    appVersion: Type.Optional(Type.String({ maxLength: 64 })),
    country: Type.Optional(Type.String({ maxLength: 8 })),
    deviceClass: Type.Optional(Type.String({ maxLength: 32 })),
    sdk: Type.Object({ version: Type.String({ maxLength: 32 }) }),
    runtime: Type.Optional(Type.Object({ name: Type.String({ maxLength: 64 }), version: Type.String({ maxLength: 32 }) })),
    capabilities: DeviceCapabilities,
  },
  { additionalProperties: true },
);
export type Device = Static<typeof Device>;

/** A candidate (a variant on a backend) of the cached manifest that failed on this device. */
export const FailedCandidate = Type.Object({ variant: Type.String({ maxLength: 64 }), backend: Type.String({ maxLength: 32 }) }, { additionalProperties: false });
export type FailedCandidate = Static<typeof FailedCandidate>;

export const CachedModel = Type.Object({
  version: Type.Integer({ minimum: 1 }),
  sha256: Type.String({ maxLength: 64 }),
  release: Type.Integer({ minimum: 0 }),
  backend: Type.Optional(
    Type.String({
      maxLength: 32,
      description:
        'The backend the cached model runs on here. With it, 304 means the cached bytes on this backend are still the first candidate the device would try (skipping `failed`); without it, that the cached bytes are any candidate.',
    }),
  ),
  failed: Type.Optional(
    Type.Array(FailedCandidate, {
      maxItems: 64,
      description: 'Candidates of the cached release and version that failed here: passed over when deciding whether the cached model is still the best.',
    }),
  ),
  kid: Type.Optional(
    Type.String({
      maxLength: 128,
      description: 'Key id that signed the cached manifest: when the server now signs with another key, it answers 200 with the manifest signed anew instead of 304.',
    }),
  ),
});
export type CachedModel = Static<typeof CachedModel>;

export const ResolveRequest = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 64 }),
    device: Device,
    cached: Type.Optional(CachedModel),
  },
  { additionalProperties: false },
);
export type ResolveRequest = Static<typeof ResolveRequest>;

export const ResolveResponse = Type.Object({ manifest: Type.String({ description: 'Compact JWS (EdDSA) of a ManifestPayload.' }) });
export type ResolveResponse = Static<typeof ResolveResponse>;

/** Numeric precision of a variant's weights. */
export const PRECISIONS = ['fp32', 'fp16', 'int8', 'mixed', 'unknown'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The device feature that asks for {@link BlockDigests} in manifests (an SDK that checks blocks; not something a device runs). */
export const BLOCK_DIGESTS_FEATURE = 'block-digests';

/** The smallest block: an artifact of up to this many bytes is one block, whose digest is the artifact's SHA-256 (manifests leave its list out). */
export const MIN_BLOCK_BYTES = 1024 * 1024;

/**
 * SHA-256 of each consecutive block of an artifact's (decoded) bytes. A device checks each block
 * with a one-shot digest as soon as it has arrived (WebCrypto, off the page's main thread) instead
 * of one incremental SHA-256 on its main thread; signed with the rest of the manifest, the list
 * commits to the bytes as the artifact's own SHA-256 does.
 */
export const BlockDigests = Type.Object({
  size: Type.Integer({ description: 'Bytes per block, a power of two; the last block may be shorter.' }),
  sha256: Type.Array(Type.String(), { description: 'Hex SHA-256 of each block, in order: ceil(artifact size / block size) of them.' }),
}, { description: 'Sent to devices whose capabilities.features list "block-digests", for artifacts of more than one block, once per artifact: on the first candidate with its bytes (a later one, on another backend, leaves them out).' });
export type BlockDigests = Static<typeof BlockDigests>;

/** One servable choice for this device: a variant on a backend. */
export const ManifestCandidate = Type.Object({
  variant: Type.String({ description: '"original", "fp16", "int8", "pruned-50", …' }),
  format: Type.String(),
  precision: Type.String(),
  backend: Type.String(),
  requires: VariantRequires,
  size: Type.Integer(),
  sha256: Type.String(),
  url: Type.String({ description: 'Where to download the bytes; relative to the server when not absolute.' }),
  encodings: Type.Array(Encoding),
  blocks: Type.Optional(BlockDigests),
});
export type ManifestCandidate = Static<typeof ManifestCandidate>;

/** The signed payload of a manifest. */
export const ManifestPayload = Type.Object({
  iss: Type.String(),
  aud: Type.String({ description: "The app key (as apps ship it) the manifest was issued to." }),
  iat: Type.Integer(),
  exp: Type.Integer(),
  project: Type.String(),
  model: Type.String(),
  release: Type.Integer({ description: 'Release sequence: never goes back for a model.' }),
  version: Type.Integer(),
  rollout: Type.Union([Type.Object({ id: Type.String(), stage: Type.Integer() }), Type.Null()]),
  candidates: Type.Array(ManifestCandidate),
  io: Type.Union([IoSignature, Type.Null()]),
  metadata: Type.Object({
    labels: Type.Optional(Type.Array(Type.String())),
    preprocessing: Type.Optional(Type.Unknown()),
    postprocessing: Type.Optional(Type.Unknown()),
    task: Type.Optional(Type.String()),
  }),
});
export type ManifestPayload = Static<typeof ManifestPayload>;

export const MANIFEST_TYPE = 'ferry-manifest+jwt';

export const Jwk = Type.Object(
  { kty: Type.String(), crv: Type.Optional(Type.String()), x: Type.Optional(Type.String()), kid: Type.String(), alg: Type.String(), use: Type.Optional(Type.String()) },
  { additionalProperties: true },
);
export const Jwks = Type.Object({ keys: Type.Array(Jwk) });
export type Jwks = Static<typeof Jwks>;

/**
 * Whether a device's cached model is still what it would run, given the candidates ranked for it
 * (the server's 304). A device that names the backend it runs on keeps its model only while that
 * pair is the first candidate it has not seen fail: one that gained WebGPU, or whose probe missed
 * it on the start that installed the model, gets the manifest that lists the better candidate
 * first. Without a backend (an older SDK, or a model only prefetched), any candidate with its bytes will do.
 */
export function cachedIsCurrent(candidates: readonly ManifestCandidate[], cached: CachedModel): boolean {
  if (cached.backend === undefined) return candidates.some((c) => c.sha256 === cached.sha256);
  const failed = cached.failed;
  for (const c of candidates) {
    if (failed?.some((f) => f.variant === c.variant && f.backend === c.backend)) continue;
    return c.sha256 === cached.sha256 && c.backend === cached.backend;
  }
  return false;
}
