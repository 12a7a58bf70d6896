/**
 * Offered load in Node (rtinfer and local mode): load-run.ts's phases on the process's monotonic clock and
 * precise sleeper (sleep.ts), with the client's busyness read from the event loop.
 */
import { performance } from 'node:perf_hooks';
import { runLoadOn, type LoadResult, type LoadRuntime, type LoadSpec } from './load-run';
import { preciseWaitMs } from './sleep';
import { monotonicTimebase } from './timebase';

export type { EndReason, LoadResult, LoadSpec, PhaseLimits } from './load-run';

/**
 * The share of the phase the client's thread was working: event-loop utilisation, minus the time the open
 * loop's sleeper spent blocked or spinning for a send time (it runs inside a callback, so the event loop
 * counts it as busy, but it is waiting, not work).
 */
function eventLoopBusyMeter(): () => number {
  const elu0 = performance.eventLoopUtilization();
  const waited0 = preciseWaitMs();
  return () => {
    const elu = performance.eventLoopUtilization(elu0);
    const total = elu.idle + elu.active;
    return total > 0 ? Math.max(0, elu.active - (preciseWaitMs() - waited0)) / total : 0;
  };
}

export const nodeLoadRuntime: LoadRuntime = { timebase: monotonicTimebase, busyMeter: eventLoopBusyMeter };

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return runLoadOn(spec, nodeLoadRuntime);
}
