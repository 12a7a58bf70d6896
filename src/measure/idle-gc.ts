/**
 * Young-generation garbage collection done while a prober is idle, so V8 never scavenges inside a timed
 * round trip. Left to itself V8 scavenges when its new space fills, which with ping's ~10 kB of garbage a
 * probe is every few dozen probes, and the allocation that triggers it is nearly always part of sending a
 * probe or reading its reply: 1–2 % of the round trips carried a 0.3–1.5 ms pause of the client's own,
 * exactly where a p99 lies (docs/decisions/0027-scavenge-between-probes.md). Browsers schedule GC in idle
 * time for the same reason.
 *
 * The collector is V8's own `gc({ type: 'minor' })`, reached by enabling --expose-gc at run time and taking
 * `gc` from a fresh context; where that is not available the prober simply runs without it.
 */
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/**
 * Collect once this much is allocated in the new space (or half of it, if smaller). A scavenge costs about
 * what survives it (the probes' records), so small frequent ones fit in a 2 ms interval's idle time where
 * V8's own, once its new space has grown to several MB, took 1.5–3.8 ms.
 */
const TRIGGER_BYTES = 1 << 20;
/**
 * Start a collection only with its expected duration plus this much left before the next send, ms. Nothing
 * is in flight then, so a misjudged one only delays the next send (ping reports that as timer error; the
 * probe's RTT starts when it actually leaves), while one skipped lets V8 collect inside a probe later.
 */
const MIN_MARGIN_MS = 0.3;
/** The expected pause never drops below this, ms (a warm scavenge of ping's garbage: 0.1–0.7 ms). */
const FLOOR_MS = 0.2;

export interface IdleGcStats {
  /** Scavenges run between probes. */
  collections: number;
  /** Their total duration, ms. */
  total_ms: number;
  /** The longest one, ms. */
  max_ms: number;
}

export interface IdleGc {
  /**
   * Called when nothing is in flight and `budgetMs` remain before the next send: scavenges if the new space
   * is filling and the expected pause fits well inside the budget.
   */
  run(budgetMs: number): void;
  stats(): IdleGcStats;
}

type MinorGc = () => void;
let minorGcFn: MinorGc | null | undefined;

/** V8's minor collection, or null where this runtime does not offer it. Cached. */
function minorGc(): MinorGc | null {
  if (minorGcFn !== undefined) return minorGcFn;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    minorGcFn = typeof gc === 'function' ? (): void => void (gc as (o: { type: string }) => unknown)({ type: 'minor' }) : null;
  } catch {
    minorGcFn = null;
  }
  return minorGcFn;
}

/** How far the new space is towards a collection, ≥ 1 when one is due; undefined where V8 does not say. */
function newSpaceFill(): number | undefined {
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  if (s === undefined) return undefined;
  const capacity = s.space_used_size + s.space_available_size;
  const trigger = Math.min(TRIGGER_BYTES, capacity / 2);
  return trigger > 0 ? s.space_used_size / trigger : undefined;
}

/**
 * An idle-time collector, or undefined where this runtime offers no minor GC or no new-space figure.
 * `fill` and `clock` are for tests (a fake heap and a fake clock); `collect` too.
 */
export function createIdleGc(o: { fill?: () => number | undefined; collect?: MinorGc; clock?: () => number } = {}): IdleGc | undefined {
  const collect = o.collect ?? minorGc();
  const fill = o.fill ?? newSpaceFill;
  const clock = o.clock ?? ((): number => performance.now());
  if (collect === null || fill() === undefined) return undefined;
  const stats: IdleGcStats = { collections: 0, total_ms: 0, max_ms: 0 };
  // Before the first one, a warm scavenge of ping's garbage (0.1–0.7 ms measured).
  let expectedMs = 0.5;
  return {
    run(budgetMs: number): void {
      const f = fill();
      if (f === undefined || f < 1) return;
      if (budgetMs < MIN_MARGIN_MS + expectedMs) {
        // Lower the bar a little each time a due collection is skipped: one slow pause on a loaded machine
        // would otherwise keep every later one out of a 2 ms interval, and V8 would collect inside probes.
        expectedMs = Math.max(FLOOR_MS, 0.9 * expectedMs);
        return;
      }
      const from = clock();
      collect();
      const took = clock() - from;
      stats.collections++;
      stats.total_ms += took;
      stats.max_ms = Math.max(stats.max_ms, took);
      // Follow the recent cost, but let one slow pause raise the bar at once.
      expectedMs = Math.max(took, 0.8 * expectedMs + 0.2 * took);
    },
    stats: () => ({ ...stats }),
  };
}
