import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';

const bits = (...values: number[]) => Array.from(toFloat16Bits(Float32Array.from(values)));

describe('float16 conversion', () => {
  it('encodes exact values as IEEE binary16', () => {
    expect(bits(0, -0, 1, -2, 0.5, 65504)).toEqual([0x0000, 0x8000, 0x3c00, 0xc000, 0x3800, 0x7bff]);
  });

  it('rounds to nearest, ties to even', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(bits(1 + 2 ** -11)).toEqual([0x3c00]);
    expect(bits(1 + 3 * 2 ** -11)).toEqual([0x3c02]);
    expect(bits(1 + 2 ** -11 + 2 ** -20)).toEqual([0x3c01]);
  });

  it('overflows to infinity, keeps NaN, and flushes below the smallest subnormal to zero', () => {
    expect(bits(65520, -1e6, Infinity)).toEqual([0x7c00, 0xfc00, 0x7c00]);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(Float32Array.of(NaN)))[0])).toBe(true);
    expect(bits(2 ** -24, 2 ** -26)).toEqual([0x0001, 0x0000]);
  });

  it('round-trips within half a unit in the last place', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const back = fromFloat16Bits(toFloat16Bits(values));
    values.forEach((v, i) => {
      const tolerance = Math.max(Math.abs(v) * 2 ** -11, 2 ** -25);
      expect(Math.abs((back[i] as number) - v)).toBeLessThanOrEqual(tolerance);
    });
  });
});
