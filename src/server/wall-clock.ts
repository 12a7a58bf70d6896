/**
 * Wall-clock stamps in unix nanoseconds with nanosecond resolution and monotonic behaviour.
 *
 * Date.now() has millisecond resolution and jumps when NTP steps the clock, which would make a
 * server_send stamp land before server_receive. So we read the wall clock ONCE (performance.timeOrigin +
 * performance.now(), which carries microseconds) and add process.hrtime.bigint() deltas to it: stamps never
 * go backwards and differences between them are exact monotonic durations. The price: the stamps do not
 * follow later NTP corrections (drift of a few ppm, i.e. ≤ tens of µs per hour of uptime when the clock is
 * disciplined), which is small against the one-way-delay uncertainty clients already report.
 */
import { performance } from 'node:perf_hooks';

const monoAnchor = process.hrtime.bigint();
const unixAnchorNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

export function unixNanos(): bigint {
  return unixAnchorNs + (process.hrtime.bigint() - monoAnchor);
}

/** Converts a monotonic hrtime stamp taken in this process into unix nanoseconds. */
export function monoToUnixNanos(mono: bigint): bigint {
  return unixAnchorNs + (mono - monoAnchor);
}
