/** Seeded synthetic weights: bit-for-bit identical on every engine (see src/shared/prng.ts). */
import { hash32, mulberry32 } from '../shared/prng';

/**
 * `size` floats uniform in [−limit, limit), from a stream that depends only on (seed, name), so a weight's
 * values do not change when other layers are added or visited in another order.
 */
export function seededUniform(seed: number, name: string, size: number, limit: number): Float32Array {
  const next = mulberry32(hash32(`${seed}:${name}`));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (next() * 2 - 1) * limit;
  return out;
}
