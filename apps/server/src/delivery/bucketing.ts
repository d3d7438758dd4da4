import { hash } from 'node:crypto';

const SPACE = 2 ** 32;

/**
 * A device's stable position in a rollout, in [0, 100). The same device and rollout give
 * the same number on every server and every call; raising a stage's percentage only
 * admits more devices, it never drops one.
 */
export function rolloutBucket(rolloutId: string, deviceId: string): number {
  // One-shot hash: no Hash object per request (resolve buckets every device on every call).
  const digest = hash('sha256', `${rolloutId}\u0000${deviceId}`, 'buffer');
  return (digest.readUInt32BE(0) / SPACE) * 100;
}

/** True when the device falls inside the rollout's current percentage. */
export function admitted(rolloutId: string, deviceId: string, percent: number): boolean {
  return percent >= 100 || rolloutBucket(rolloutId, deviceId) < percent;
}
