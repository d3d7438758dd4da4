import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new random identifier such as `prj_3k9x…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** A new admin token secret. Only its hash is stored. */
export function newAdminSecret(): string {
  return `fry_at_${randomBytes(32).toString('base64url')}`;
}

/** A new public app key. */
export function newAppKey(): string {
  return `fry_ak_${randomBytes(16).toString('base64url')}`;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Compares two secrets in constant time (by their hashes, so lengths never leak). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
