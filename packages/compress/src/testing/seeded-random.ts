import { seededRandom } from '../accuracy/seeded-random.js';

export { seededRandom };

/** `length` seeded-random bytes. */
export function seededBytes(seed: number, length: number): Uint8Array {
  const random = seededRandom(seed);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}
