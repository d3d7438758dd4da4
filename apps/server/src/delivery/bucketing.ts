import { createHash } from 'node:crypto';

const SPACE = 2 ** 32;

/**
 * A device's stable position in a rollout, in [0, 100). The same device and rollout give
 * the same number on every server and every call; raising a stage's percentage only
 * admits more devices, it never drops one.
 */
export function rolloutBucket(rolloutId: string, deviceId: string): number {
  const digest = createHash('sha256').update(rolloutId).update('\u0000').update(deviceId).digest();
  return (digest.readUInt32BE(0) / SPACE) * 100;
}

/** True when the device falls inside the rollout's current percentage. */
export function admitted(rolloutId: string, deviceId: string, percent: number): boolean {
  return percent >= 100 || rolloutBucket(rolloutId, deviceId) < percent;
}
