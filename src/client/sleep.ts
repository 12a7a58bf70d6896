/**
 * Waits until a monotonic time with sub-millisecond precision: a timer (coarse, ≥ 1 ms, often late)
 * until ~1 ms before, then setImmediate polling for the rest.
 */
export function sleepUntil(monoNs: bigint, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const step = (): void => {
      if (signal?.aborted) return resolve();
      const left = Number(monoNs - process.hrtime.bigint());
      if (left <= 0) return resolve();
      if (left > 1.5e6) setTimeout(step, Math.floor((left - 1e6) / 1e6));
      else setImmediate(step);
    };
    step();
  });
}
