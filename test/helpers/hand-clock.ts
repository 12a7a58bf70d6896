/**
 * A batcher clock that stands still until the test moves it: no batching delay or grace period passes
 * behind the test's back, so scheduling tests do not depend on how fast the machine is.
 */
import type { BatcherClock } from '../../src/server/batcher';

export interface HandClock extends BatcherClock {
  /** Moves time on by `ns` and runs every timer that was pending. */
  pass(ns: bigint): void;
}

export function handClock(): HandClock {
  let t = 1_000_000_000n;
  let pending: Array<() => void> = [];
  return {
    now: () => t,
    setTimeout: (fn: () => void) => {
      pending.push(fn);
      return fn;
    },
    clearTimeout: (h: unknown) => {
      pending = pending.filter((f) => f !== h);
    },
    pass: (ns) => {
      t += ns;
      const fs = pending;
      pending = [];
      for (const f of fs) f();
    },
  };
}
