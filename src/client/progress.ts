/**
 * A progress bar on stderr, only when stderr is a terminal and the run is expected to last more than
 * ~2 s; redrawn at most every 200 ms from the load phase's progress callback (outside the hot loop).
 */
export interface Progress {
  update(done: number, elapsedNs: number): void;
  end(): void;
}

const silent: Progress = { update: () => undefined, end: () => undefined };

export function createProgress(label: string, expectedS: number | undefined, totalRequests: number | undefined): Progress {
  if (!process.stderr.isTTY) return silent;
  if (expectedS !== undefined && expectedS <= 2) return silent;
  if (expectedS === undefined && (totalRequests ?? 0) < 200) return silent;
  let drawn = false;
  return {
    update(done, elapsedNs): void {
      const s = elapsedNs / 1e9;
      const frac = expectedS ? Math.min(1, s / expectedS) : totalRequests ? Math.min(1, done / totalRequests) : 0;
      const width = 30;
      const fill = Math.round(frac * width);
      process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)} % ${done} done, ${s.toFixed(1)} s`);
      drawn = true;
    },
    end(): void {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}
