import { Type, type Static } from 'typebox';
import { IsoDate } from './common.js';

export const ROLLOUT_STATUSES = ['active', 'paused', 'completed', 'rolled_back', 'cancelled'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/** Who a rollout is for. Every field narrows the audience; an empty targeting is everyone. */
export const Targeting = Type.Object(
  {
    platforms: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { minItems: 1, maxItems: 32 })),
    os: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: 64 })),
    appVersion: Type.Optional(Type.String({ maxLength: 200, description: 'A semver range, e.g. ">=2.3.0 <3"' })),
    countries: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 2 }), { minItems: 1, maxItems: 300 })),
    deviceClasses: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { minItems: 1, maxItems: 32 })),
  },
  { additionalProperties: false },
);
export type Targeting = Static<typeof Targeting>;

/** Thresholds checked against telemetry while a rollout runs. */
export const Guardrails = Type.Object(
  {
    maxErrorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Errors per inference, e.g. 0.02' })),
    maxLatencyRegression: Type.Optional(Type.Number({ minimum: 0, description: 'Allowed p95 latency growth over stable, e.g. 0.2 = +20 %' })),
    minSamples: Type.Optional(Type.Integer({ minimum: 1, description: 'Samples needed before a stage can advance' })),
    onBreach: Type.Optional(Type.Union([Type.Literal('pause'), Type.Literal('rollback')], { default: 'pause' })),
  },
  { additionalProperties: false },
);
export type Guardrails = Static<typeof Guardrails>;

export const RolloutSchedule = Type.Object(
  { intervalMinutes: Type.Number({ minimum: 1 / 60, maximum: 60 * 24 * 90, description: 'Time between automatic stage advances' }) },
  { additionalProperties: false },
);
export type RolloutSchedule = Static<typeof RolloutSchedule>;

export const CreateRolloutBody = Type.Object(
  {
    version: Type.Integer({ minimum: 1 }),
    stages: Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), { minItems: 1, maxItems: 20, description: 'Percentages, increasing, e.g. [1, 10, 50, 100]' }),
    targeting: Type.Optional(Targeting),
    guardrails: Type.Optional(Guardrails),
    schedule: Type.Optional(RolloutSchedule),
  },
  { additionalProperties: false },
);
export type CreateRolloutBody = Static<typeof CreateRolloutBody>;

export const RolloutEvent = Type.Object({
  at: IsoDate,
  action: Type.String(),
  actor: Type.String(),
  stage: Type.Integer(),
  percent: Type.Number(),
  release: Type.Integer(),
  reason: Type.Optional(Type.String()),
});
export type RolloutEvent = Static<typeof RolloutEvent>;

export const Rollout = Type.Object({
  id: Type.String(),
  model: Type.String(),
  version: Type.Integer(),
  status: Type.Enum(ROLLOUT_STATUSES),
  stages: Type.Array(Type.Number()),
  stage: Type.Integer({ description: 'Index into stages' }),
  percent: Type.Number(),
  targeting: Targeting,
  guardrails: Guardrails,
  schedule: Type.Union([RolloutSchedule, Type.Null()]),
  nextAdvanceAt: Type.Union([IsoDate, Type.Null()]),
  previousStableVersion: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: IsoDate,
  updatedAt: IsoDate,
  events: Type.Array(RolloutEvent),
});
export type Rollout = Static<typeof Rollout>;

export const RolloutActionBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 1000 })) },
  { additionalProperties: false },
);
export type RolloutActionBody = Static<typeof RolloutActionBody>;
