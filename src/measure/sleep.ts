/**
 * Waits until a monotonic time with sub-millisecond precision: a timer (coarse, ≥ 1 ms, often late) until
 * ~1 ms before, then a precise wait for the rest. Ping's probe schedule and the open-loop load driver both
 * wait with it, so they leave on time the same way.
 *
 * The precise part: when `idle()` says nothing is in flight, the thread sleeps in `Atomics.wait` (a futex
 * with a sub-ms timeout: no CPU, no allocation), then spins the last SPIN_MS. Otherwise it polls with
 * setImmediate, because a blocked thread would hold back a reply that arrives meanwhile and inflate its RTT.
 * Polling alone allocates on every iteration, which made V8 scavenge every few probes and burned a core
 * that the server shares (docs/decisions/0010-probe-wait-without-garbage.md).
 */
import { performance } from 'node:perf_hooks';

const cell = new Int32Array(new SharedArrayBuffer(4));
/**
 * The futex can wake late and a vCPU woken from idle is slow to get going; ending the wait with a
 * short busy loop (allocation-free) sends on time from a running CPU. The A/B that chose this is in
 * docs/decisions/0010-probe-wait-without-garbage.md.
 */
const SPIN_MS = 0.2;
let spinSink = 0;
let blockedMs = 0;

/**
 * Milliseconds this thread has spent blocked or spinning in precise waits, since the process started. The
 * load phase subtracts it from the event loop's busy time: that time is waiting for a send time, not work.
 */
export function preciseWaitMs(): number {
  return blockedMs;
}

/** Resolves at `monoNs` (process.hrtime.bigint() time), or as soon as `signal` aborts. */
export function sleepUntil(monoNs: bigint, signal?: AbortSignal, idle?: () => boolean): Promise<void> {
  // Both clocks are the same monotonic source; read hrtime first, so a preemption between the two reads
  // makes the wait end that much late, never early (read the other way round, a probe could leave before
  // its due time by however long the thread was descheduled).
  const leftNs = monoNs - process.hrtime.bigint();
  const targetMs = performance.now() + Number(leftNs) / 1e6;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    // An abort ends the wait at once and frees the timer, so a cancelled long wait holds nothing open.
    const onAbort = (): void => {
      if (timer) clearTimeout(timer);
      resolve();
    };
    const end = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const step = (): void => {
      timer = undefined;
      if (signal?.aborted) return end();
      const left = targetMs - performance.now();
      if (left <= 0) return end();
      if (left > 1.5) timer = setTimeout(step, Math.floor(left - 1));
      else if (idle?.()) {
        const from = performance.now();
        if (left > SPIN_MS) Atomics.wait(cell, 0, 0, left - SPIN_MS);
        // The last SPIN_MS on CPU, as grpcio_ping.py does. The clock is read every few µs, not in a tight
        // loop: each performance.now() result can be a fresh heap number, and reading it back to back
        // allocated enough per probe to bring back the scavenges.
        while (performance.now() < targetMs) for (let i = 0; i < 4096; i++) spinSink = (spinSink + i) | 0;
        blockedMs += performance.now() - from;
        end();
      } else setImmediate(step);
    };
    signal?.addEventListener('abort', onAbort);
    step();
  });
}
