/**
 * Open-loop pacers: when the k-th request (0-based) is *intended* to leave, in ns after the start.
 * Latency in open loop is measured from this intended time, so a client that falls behind (a stalled
 * server holding every slot) shows the delay instead of hiding it (coordinated omission).
 */

import { mulberry32 } from '../shared/prng';

/** Returns the intended send offset of the next request each call, ns since the start, non-decreasing. */
export interface Pacer {
  readonly kind: 'constant' | 'poisson';
  next(): number;
}

/** Constant rate: request k at k / rate seconds. Pure; the pacer form just counts k. */
export function constantOffsetNs(rate: number, k: number): number {
  return (k * 1e9) / rate;
}

export function constantPacer(rate: number): Pacer {
  if (!(rate > 0)) throw new Error(`rate must be > 0 requests/s, got ${rate}`);
  let k = 0;
  return { kind: 'constant', next: () => constantOffsetNs(rate, k++) };
}


/** Poisson arrivals at mean `rate`: exponential gaps with mean 1/rate; the first request at 0. */
export function poissonPacer(rate: number, seed = 1): Pacer {
  if (!(rate > 0)) throw new Error(`rate must be > 0 requests/s, got ${rate}`);
  const rnd = mulberry32(seed);
  let t = 0;
  let first = true;
  return {
    kind: 'poisson',
    next(): number {
      if (first) {
        first = false;
        return 0;
      }
      t += (-Math.log(1 - rnd()) * 1e9) / rate;
      return t;
    },
  };
}
