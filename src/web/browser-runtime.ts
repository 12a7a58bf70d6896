/**
 * The load loop's runtime in a browser (measure/load-run.ts LoadRuntime): performance.now() as the
 * monotonic clock (Chromium coarsens it to 0.1 ms without cross-origin isolation, which is finer than any
 * frame figure the page shows) and setTimeout as the sleeper. The browser has no event-loop utilisation
 * API, so the client's busyness is the time spent in long tasks (> 50 ms, the Long Tasks API) over the
 * elapsed time: it catches a page too busy to send frames on time, and reads 0 where the API is missing.
 */
import type { LoadRuntime } from '../measure/load-run';
import type { Timebase } from '../measure/timebase';

const nowNs = (): bigint => BigInt(Math.round(performance.now() * 1e6));

export const browserTimebase: Timebase = {
  nowNs,
  sleepUntil(monoNs: bigint, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, Number(monoNs - nowNs()) / 1e6));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

function longTaskBusyMeter(): () => number {
  const t0 = performance.now();
  let busyMs = 0;
  let observer: PerformanceObserver | undefined;
  try {
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) busyMs += e.duration;
    });
    observer.observe({ type: 'longtask' });
  } catch {
    observer = undefined; // no Long Tasks API in this browser
  }
  return () => {
    observer?.disconnect();
    const elapsed = performance.now() - t0;
    return elapsed > 0 ? Math.min(1, busyMs / elapsed) : 0;
  };
}

export const browserLoadRuntime: LoadRuntime = { timebase: browserTimebase, busyMeter: longTaskBusyMeter };
