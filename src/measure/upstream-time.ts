/**
 * The edge's own account of a call: `x-envoy-upstream-service-time`, the milliseconds the edge spent
 * waiting on its upstream (the server) for this request, as Envoy sets it (the lab's HAProxy edge sends the
 * same header). Envoy writes a whole number of milliseconds, so its resolution is 1 ms.
 */
export const UPSTREAM_TIME_HEADER = 'x-envoy-upstream-service-time';
export const UPSTREAM_TIME_RESOLUTION_MS = 1;

/** A value no edge could mean (a day): anything larger is treated as garbage, not as a time. */
const MAX_PLAUSIBLE_MS = 86_400_000;

export type UpstreamTime = { kind: 'absent' } | { kind: 'garbage'; raw: string } | { kind: 'ms'; ms: number };

/**
 * Reads the header's value. Absent means no edge announced itself (a direct connection, or an edge that
 * does not set it); garbage (not a plain non-negative number of ms) is counted apart and never used as a time.
 */
export function parseUpstreamTime(value: string | undefined): UpstreamTime {
  if (value === undefined) return { kind: 'absent' };
  const v = value.trim();
  if (!/^\d{1,12}(\.\d{1,6})?$/.test(v)) return { kind: 'garbage', raw: value.slice(0, 40) };
  const ms = Number(v);
  return ms <= MAX_PLAUSIBLE_MS ? { kind: 'ms', ms } : { kind: 'garbage', raw: value.slice(0, 40) };
}
