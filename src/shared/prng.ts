/**
 * Tiny deterministic PRNG helpers shared by the synthetic weights (src/models) and the client's seeded load
 * shapes and images (src/measure, src/client). Written here rather than taken from a library because the
 * requirement is bit-for-bit identical streams on every engine and Node version: integer-only arithmetic
 * (no Math.random, no transcendental functions whose last bit could differ) gives that.
 */

/** FNV-1a 32-bit hash of a string: turns (seed, weight name) into an independent stream seed. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: 32-bit state, passes PractRand to 2^32 outputs; plenty for a 7 M-weight network. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
