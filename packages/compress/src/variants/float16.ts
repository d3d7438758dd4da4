/**
 * IEEE 754 binary16 bits of each float32 value, rounded to nearest-even as hardware does;
 * beyond ±65504 gives ±infinity, below 2^-25 gives zero. (`Float16Array` arrives after Node 20.)
 */
export function toFloat16Bits(values: Float32Array): Uint16Array<ArrayBuffer> {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const halves = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) halves[i] = halfOf(bits[i] as number);
  return halves;
}

/** The float32 value of each binary16 bit pattern. */
export function fromFloat16Bits(halves: Uint16Array): Float32Array<ArrayBuffer> {
  const values = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const h = halves[i] as number;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) values[i] = sign * fraction * 2 ** -24;
    else if (exponent === 0x1f) values[i] = fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else values[i] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return values;
}

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;

function halfOf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}
