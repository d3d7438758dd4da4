import { Type, type Static } from 'typebox';
import { IsoDate, ResourceName, Sha256Hex } from './common.js';

/** Formats a version can have. Only ONNX is parsed; the others are stored as opaque artifacts. */
export const MODEL_FORMATS = ['onnx', 'tflite', 'coreml', 'other'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export const VARIANT_STATUSES = ['pending', 'building', 'ready', 'rejected', 'failed'] as const;
export type VariantStatus = (typeof VARIANT_STATUSES)[number];

export const ServingPolicy = Type.Object(
  {
    preference: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9*]+:[a-z0-9*\\-]+$', maxLength: 64 }), {
        maxItems: 64,
        description: 'Candidate order, best first: "backend:variant" or "backend:precision", "*" for any, e.g. ["webgpu:fp16", "wasm:int8"]',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ServingPolicy = Static<typeof ServingPolicy>;

/** What a device needs to receive a version; one that does not meet it keeps the newest version it can run. */
export const Compatibility = Type.Object(
  {
    sdk: Type.Optional(Type.String({ maxLength: 200, description: 'semver range of the Ferry SDK, e.g. ">=1.2.0"' })),
    appVersion: Type.Optional(Type.String({ maxLength: 200, description: 'semver range of the app' })),
    runtime: Type.Optional(
      Type.Object({ name: Type.String({ maxLength: 64 }), range: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type Compatibility = Static<typeof Compatibility>;

/** Which variants Ferry builds for a model's ONNX uploads, and how close to the original each must stay. */
export const VariantSettings = Type.Object(
  {
    kinds: Type.Optional(
      Type.Array(Type.String({ pattern: '^(fp16|int8|pruned-[0-9]{1,2})$' }), { maxItems: 8, description: 'Default ["fp16", "int8", "pruned-50"]' }),
    ),
    tolerance: Type.Optional(
      Type.Record(
        Type.String({ description: 'A kind ("pruned-70") or family ("pruned")' }),
        Type.Object(
          {
            minCosine: Type.Optional(Type.Number({ minimum: -1, maximum: 1 })),
            minTop1Agreement: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
            maxAbsError: Type.Optional(Type.Number({ minimum: 0 })),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type VariantSettings = Static<typeof VariantSettings>;

export const TensorInfo = Type.Object({
  name: Type.String(),
  /** ONNX element type name, such as `float32`, `int64`, `uint8`. */
  type: Type.String(),
  /** Dimensions; a string is a named dynamic dimension, null an unnamed one. */
  shape: Type.Union([Type.Array(Type.Union([Type.Integer(), Type.String(), Type.Null()])), Type.Null()]),
});
export type TensorInfo = Static<typeof TensorInfo>;

export const IoSignature = Type.Object({ inputs: Type.Array(TensorInfo), outputs: Type.Array(TensorInfo) });
export type IoSignature = Static<typeof IoSignature>;

export const Model = Type.Object({
  id: Type.String(),
  name: Type.String(),
  task: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  labels: Type.Union([Type.Array(Type.String()), Type.Null()]),
  metadata: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  latestVersion: Type.Union([Type.Integer(), Type.Null()]),
  stableVersion: Type.Union([Type.Integer(), Type.Null()]),
  release: Type.Integer(),
  servingPolicy: Type.Union([ServingPolicy, Type.Null()]),
  variantSettings: Type.Union([VariantSettings, Type.Null()]),
  createdAt: IsoDate,
  updatedAt: IsoDate,
});
export type Model = Static<typeof Model>;

export const CreateModelBody = Type.Object(
  {
    name: ResourceName,
    task: Type.Optional(Type.String({ maxLength: 100 })),
    description: Type.Optional(Type.String({ maxLength: 10_000 })),
    labels: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 100_000 })),
    metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    servingPolicy: Type.Optional(ServingPolicy),
    variantSettings: Type.Optional(VariantSettings),
  },
  { additionalProperties: false },
);
export type CreateModelBody = Static<typeof CreateModelBody>;

export const VariantRequires = Type.Object({
  format: Type.String(),
  backends: Type.Array(Type.String()),
  features: Type.Array(Type.String()),
  minMemoryMB: Type.Optional(Type.Integer()),
  platforms: Type.Optional(Type.Array(Type.String())),
});
export type VariantRequires = Static<typeof VariantRequires>;

export const Encoding = Type.Object({ encoding: Type.Union([Type.Literal('br'), Type.Literal('gzip')]), size: Type.Integer() });
export type Encoding = Static<typeof Encoding>;

export const Accuracy = Type.Object({
  maxAbsError: Type.Number(),
  cosine: Type.Number(),
  top1Agreement: Type.Optional(Type.Number()),
  samples: Type.Integer(),
  tolerance: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  buildMs: Type.Optional(Type.Number()),
});
export type Accuracy = Static<typeof Accuracy>;

export const Variant = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: '"original", "fp16", "int8", "pruned-50", …' }),
  status: Type.Enum(VARIANT_STATUSES),
  sha256: Type.Union([Sha256Hex, Type.Null()]),
  size: Type.Union([Type.Integer(), Type.Null()]),
  encodings: Type.Array(Encoding),
  requires: VariantRequires,
  accuracy: Type.Optional(Accuracy),
  reason: Type.Optional(Type.String()),
  /** While pending or building: how far its job is (0–1) and in which stage. */
  progress: Type.Optional(Type.Number()),
  stage: Type.Optional(Type.String()),
});
export type Variant = Static<typeof Variant>;

export const OnnxInspection = Type.Object({
  irVersion: Type.Integer(),
  opsets: Type.Array(Type.Object({ domain: Type.String(), version: Type.Integer() })),
  producer: Type.Union([Type.String(), Type.Null()]),
  parameterCount: Type.Integer(),
  parameterBytes: Type.Integer(),
  operators: Type.Record(Type.String(), Type.Integer()),
});
export type OnnxInspection = Static<typeof OnnxInspection>;

export const Version = Type.Object({
  version: Type.Integer(),
  model: Type.String(),
  format: Type.Enum(MODEL_FORMATS),
  sha256: Sha256Hex,
  size: Type.Integer(),
  state: Type.Union([Type.Literal('active'), Type.Literal('archived')]),
  notes: Type.Union([Type.String(), Type.Null()]),
  io: Type.Union([IoSignature, Type.Null()]),
  onnx: Type.Union([OnnxInspection, Type.Null()]),
  createdAt: IsoDate,
  createdBy: Type.String(),
  releasedAt: Type.Union([IsoDate, Type.Null()]),
  compatibility: Type.Union([Compatibility, Type.Null()]),
  variants: Type.Array(Variant),
});
export type Version = Static<typeof Version>;


export const UpdateVersionBody = Type.Object(
  {
    notes: Type.Optional(Type.String({ maxLength: 10_000 })),
    compatibility: Type.Optional(Type.Union([Compatibility, Type.Null()])),
  },
  { additionalProperties: false },
);
export type UpdateVersionBody = Static<typeof UpdateVersionBody>;


export const UpdateModelBody = Type.Object(
  {
    task: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 10_000 }), Type.Null()])),
    labels: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 200 }), { maxItems: 100_000 }), Type.Null()])),
    metadata: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
    servingPolicy: Type.Optional(Type.Union([ServingPolicy, Type.Null()])),
    variantSettings: Type.Optional(Type.Union([VariantSettings, Type.Null()])),
  },
  { additionalProperties: false },
);
export type UpdateModelBody = Static<typeof UpdateModelBody>;

/** Query of `POST …/versions/:version/variants`: a variant the admin built elsewhere (a .tflite, an .mlmodel, …). */
export const AttachVariantQuery = Type.Object(
  {
    kind: Type.String({ pattern: '^[a-z0-9][a-z0-9\\-_.]{0,31}$' }),
    format: Type.String({ maxLength: 32 }),
    backends: Type.String({ maxLength: 200, description: 'Comma-separated, e.g. "tflite,nnapi"' }),
    features: Type.Optional(Type.String({ maxLength: 200 })),
    precision: Type.Optional(Type.String({ maxLength: 16 })),
    minMemoryMB: Type.Optional(Type.Integer({ minimum: 0 })),
    platforms: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type AttachVariantQuery = Static<typeof AttachVariantQuery>;

export const UploadQuery = Type.Object(
  {
    format: Type.Optional(Type.String({ description: 'onnx (default), tflite, coreml or other' })),
    notes: Type.Optional(Type.String({ maxLength: 10_000 })),
  },
  { additionalProperties: false },
);
export type UploadQuery = Static<typeof UploadQuery>;
