import { describe, expect, it } from 'vitest';
import { zeroSmallest } from './pruned-weights.js';

describe('zeroSmallest', () => {
  it('zeroes exactly the requested fraction, smallest magnitudes first', () => {
    const values = Float32Array.of(0.5, -0.1, 0.3, -0.9, 0.2, 0.05);
    expect(zeroSmallest(values, 0.5)).toBe(3);
    expect(Array.from(values)).toEqual([0.5, 0, 0.30000001192092896, -0.8999999761581421, 0, 0].map(Math.fround));
  });

  it('breaks ties by position so the count is exact', () => {
    const values = Float32Array.of(1, 1, 1, 1);
    zeroSmallest(values, 0.5);
    expect(Array.from(values)).toEqual([0, 0, 1, 1]);
  });

  it('leaves tensors alone when the fraction rounds to nothing', () => {
    const values = Float32Array.of(1, 2, 3);
    expect(zeroSmallest(values, 0.3)).toBe(0);
    expect(Array.from(values)).toEqual([1, 2, 3]);
  });
});
