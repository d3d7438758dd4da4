import { Type, type Static } from 'typebox';
import { IsoDate, ResourceName } from './common.js';

/** Roles of admin tokens, weakest first. */
export const ROLES = ['viewer', 'publisher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const Project = Type.Object({ id: Type.String(), name: Type.String(), createdAt: IsoDate });
export type Project = Static<typeof Project>;

export const CreateProjectBody = Type.Object({ name: ResourceName }, { additionalProperties: false });
export type CreateProjectBody = Static<typeof CreateProjectBody>;

export const AppKey = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'The public identifier apps ship with (X-Ferry-App-Key).' }),
  name: Type.String(),
  createdAt: IsoDate,
  revokedAt: Type.Union([IsoDate, Type.Null()]),
});
export type AppKey = Static<typeof AppKey>;

export const CreateAppKeyBody = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);
export type CreateAppKeyBody = Static<typeof CreateAppKeyBody>;

export const AdminToken = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Enum(ROLES),
  project: Type.String(),
  prefix: Type.String({ description: 'First characters of the secret, to recognise it.' }),
  createdAt: IsoDate,
  createdBy: Type.String(),
  revokedAt: Type.Union([IsoDate, Type.Null()]),
  lastUsedAt: Type.Union([IsoDate, Type.Null()]),
});
export type AdminToken = Static<typeof AdminToken>;

/** Answer to issuing a token: the only time the secret is shown. */
export const IssuedAdminToken = Type.Intersect([AdminToken, Type.Object({ secret: Type.String() })]);
export type IssuedAdminToken = Static<typeof IssuedAdminToken>;

export const CreateAdminTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    role: Type.Enum(ROLES),
  },
  { additionalProperties: false },
);
export type CreateAdminTokenBody = Static<typeof CreateAdminTokenBody>;

export const AuditEvent = Type.Object({
  id: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  details: Type.Unknown(),
  requestId: Type.Union([Type.String(), Type.Null()]),
  createdAt: IsoDate,
});
export type AuditEvent = Static<typeof AuditEvent>;

export const AuditPage = Type.Object({
  events: Type.Array(AuditEvent),
  next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor for the next (older) page.' }),
});
export type AuditPage = Static<typeof AuditPage>;
