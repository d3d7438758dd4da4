import { Type, type Static } from 'typebox';
import { IsoDate, ResourceName, Sha256Hex } from './common.js';

/** Formats a version can have. Only ONNX is parsed; the others are stored as opaque artifacts. */
export const MODEL_FORMATS = ['onnx', 'tflite', 'coreml', 'other'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export const VARIANT_STATUSES = ['pending', 'building', 'ready', 'rejected', 'failed'] as const;
export type VariantStatus = (typeof VARIANT_STATUSES)[number];

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
});
export type Accuracy = Static<typeof Accuracy>;

export const Variant = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: '"original", "fp16", "int8", "pruned-50", …' }),
  status: Type.Union(VARIANT_STATUSES.map((s) => Type.Literal(s))),
  sha256: Type.Union([Sha256Hex, Type.Null()]),
  size: Type.Union([Type.Integer(), Type.Null()]),
  encodings: Type.Array(Encoding),
  requires: VariantRequires,
  accuracy: Type.Optional(Accuracy),
  reason: Type.Optional(Type.String()),
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
  format: Type.Union(MODEL_FORMATS.map((f) => Type.Literal(f))),
  sha256: Sha256Hex,
  size: Type.Integer(),
  state: Type.Union([Type.Literal('active'), Type.Literal('archived')]),
  notes: Type.Union([Type.String(), Type.Null()]),
  io: Type.Union([IoSignature, Type.Null()]),
  onnx: Type.Union([OnnxInspection, Type.Null()]),
  createdAt: IsoDate,
  createdBy: Type.String(),
  variants: Type.Array(Variant),
});
export type Version = Static<typeof Version>;

export const UploadQuery = Type.Object(
  {
    format: Type.Optional(Type.String({ description: 'onnx (default), tflite, coreml or other' })),
    notes: Type.Optional(Type.String({ maxLength: 10_000 })),
  },
  { additionalProperties: false },
);
export type UploadQuery = Static<typeof UploadQuery>;
