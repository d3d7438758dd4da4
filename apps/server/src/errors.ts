import { statusForCode, type ErrorCode } from '@ferry/protocol';

/** An error with a stable code; the error handler answers it with the code's HTTP status. */
export class FerryError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'FerryError';
    this.status = statusForCode(code);
  }
}

/** True for Prisma's unique-constraint violation, whatever the driver adapter. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002';
}
