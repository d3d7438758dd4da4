import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, retryAfterMs } from './retry.js';

describe('backoffDelay', () => {
  it('doubles, is capped, and is jittered within the upper half', () => {
    const options = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, options, () => 0)).toBe(50);
    expect(backoffDelay(1, options, () => 1)).toBe(100);
    expect(backoffDelay(3, options, () => 1)).toBe(400);
    expect(backoffDelay(10, options, () => 1)).toBe(1000);
    expect(backoffDelay(10, options, () => 0)).toBe(500);
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('2', 0, 10_000)).toBe(2000);
    expect(retryAfterMs('999', 0, 10_000)).toBe(10_000);
    expect(retryAfterMs(new Date(5000).toUTCString(), 2000, 10_000)).toBe(3000);
    expect(retryAfterMs(null, 0, 10)).toBeUndefined();
  });
});
