import { Type, type Static } from 'typebox';
import { ERROR_CODES } from './errors.js';

/** Every error answer: `{"error": {"code": "model_not_found", "message": "…"}}`. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: `A stable error code: ${Object.keys(ERROR_CODES).join(', ')}` }),
      message: Type.String(),
      requestId: Type.Optional(Type.String()),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorBody' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Names of projects and models: lowercase, digits, `-`, `_`, `.`; first character a letter or digit. */
export const RESOURCE_NAME_PATTERN = '^[a-z0-9][a-z0-9\\-_.]{0,63}$';
export const ResourceName = Type.String({ pattern: RESOURCE_NAME_PATTERN, minLength: 1, maxLength: 64 });

export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const IsoDate = Type.String({ format: 'date-time' });
