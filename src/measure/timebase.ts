/**
 * The clock and the sleeper the load drivers run on. Runs use the process's monotonic clock and sleep.ts;
 * tests pass a virtual timebase, so the scheduling logic is checked exactly and never against a real clock.
 */
import { sleepUntil } from './sleep';

export interface Timebase {
  /** Monotonic time, ns. */
  nowNs(): bigint;
  /**
   * Resolves at `monoNs`, or as soon as `signal` aborts. `idle()` true means nothing is in flight, so the
   * wait may block the thread for precision (sleep.ts says why it must not otherwise).
   */
  sleepUntil(monoNs: bigint, signal?: AbortSignal, idle?: () => boolean): Promise<void>;
}

export const monotonicTimebase: Timebase = { nowNs: () => process.hrtime.bigint(), sleepUntil };
