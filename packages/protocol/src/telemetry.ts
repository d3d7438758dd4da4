import { Type, type Static } from 'typebox';

export const TELEMETRY_EVENT_TYPES = ['resolve', 'download', 'verify_failure', 'load', 'inference', 'error'] as const;
export type TelemetryEventType = (typeof TELEMETRY_EVENT_TYPES)[number];

/**
 * One telemetry event. `id` makes uploads idempotent: the server stores each id once.
 * Fields beyond the common ones depend on `type`:
 * - download: bytes, ms, encoding, resumed, fromCache
 * - load: ms, backend
 * - inference: count, latency {p50, p95, p99, mean, max} in ms
 * - verify_failure / error: code, message
 */
export const TelemetryEvent = Type.Object(
  {
    id: Type.String({ minLength: 8, maxLength: 64 }),
    type: Type.Enum(TELEMETRY_EVENT_TYPES),
    at: Type.Integer({ minimum: 0, maximum: 4_102_444_800_000, description: 'Milliseconds since the epoch, device clock' }),
    model: Type.String({ maxLength: 64 }),
    version: Type.Optional(Type.Integer()),
    variant: Type.Optional(Type.String({ maxLength: 32 })),
    backend: Type.Optional(Type.String({ maxLength: 32 })),
    release: Type.Optional(Type.Integer()),
    rollout: Type.Optional(Type.Union([Type.Object({ id: Type.String(), stage: Type.Integer() }), Type.Null()])),
    ms: Type.Optional(Type.Number({ minimum: 0 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    encoding: Type.Optional(Type.String({ maxLength: 16 })),
    resumed: Type.Optional(Type.Boolean()),
    fromCache: Type.Optional(Type.Boolean()),
    count: Type.Optional(Type.Integer({ minimum: 0 })),
    latency: Type.Optional(
      Type.Object({
        p50: Type.Number(),
        p95: Type.Number(),
        p99: Type.Optional(Type.Number()),
        mean: Type.Number(),
        max: Type.Number(),
      }),
    ),
    code: Type.Optional(Type.String({ maxLength: 64 })),
    message: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type TelemetryEvent = Static<typeof TelemetryEvent>;

export const TelemetryBatch = Type.Object(
  {
    device: Type.Object({
      id: Type.String({ minLength: 1, maxLength: 128, description: 'Pseudonymous install id' }),
      platform: Type.String({ maxLength: 32 }),
      os: Type.Optional(Type.String({ maxLength: 64 })),
      appVersion: Type.Optional(Type.String({ maxLength: 64 })),
      sdk: Type.Optional(Type.Object({ version: Type.String({ maxLength: 32 }) })),
    }),
    events: Type.Array(TelemetryEvent, { minItems: 1, maxItems: 500 }),
  },
  { additionalProperties: false },
);
export type TelemetryBatch = Static<typeof TelemetryBatch>;

export const TelemetryAccepted = Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() });
export type TelemetryAccepted = Static<typeof TelemetryAccepted>;
