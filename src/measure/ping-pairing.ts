/**
 * Pairs each call with the HTTP/2 PING nearest to it in time on the same connection, so every call gets
 * the client↔peer round trip of its own moment. A PING rides right after a call's request (the transport
 * decides which calls take one), so most calls pair with a PING sent within microseconds of them; a call
 * that did not take one pairs with its connection's nearest, and the gap is reported.
 */

/** PINGs of one connection in send order: send time and RTT, ns (NaN: never answered). */
export interface PingTrack {
  atNs: number[];
  rttNs: number[];
}

export interface Pairing {
  /** Per call: RTT of its nearest answered PING, ns (NaN: none on its connection). */
  rttNs: Float64Array;
  /** Per call: |call send − PING send|, ns (NaN: no PING). */
  gapNs: Float64Array;
}

/** Index of the first element of sorted `xs` that is ≥ x. */
function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Answered PINGs only, still in send order (an unanswered PING has no RTT to lend). */
function answered(t: PingTrack): PingTrack {
  const out: PingTrack = { atNs: [], rttNs: [] };
  for (let i = 0; i < t.atNs.length; i++) {
    if (Number.isNaN(t.rttNs[i])) continue;
    out.atNs.push(t.atNs[i]);
    out.rttNs.push(t.rttNs[i]);
  }
  return out;
}

/**
 * `callAtNs[i]` is call i's send time, `callConn[i]` its connection; `tracks.get(conn)` that connection's
 * PINGs. Ties go to the earlier PING (the one sent with the call, or before it).
 */
export function pairNearest(callAtNs: ArrayLike<number>, callConn: ArrayLike<number>, tracks: ReadonlyMap<number, PingTrack>): Pairing {
  const n = callAtNs.length;
  const rttNs = new Float64Array(n).fill(NaN);
  const gapNs = new Float64Array(n).fill(NaN);
  const ready = new Map<number, PingTrack>();
  for (const [conn, t] of tracks) ready.set(conn, answered(t));
  for (let i = 0; i < n; i++) {
    const t = ready.get(callConn[i]);
    if (!t || t.atNs.length === 0) continue;
    const at = callAtNs[i];
    const j = lowerBound(t.atNs, at);
    let best = -1;
    if (j < t.atNs.length) best = j;
    if (j > 0 && (best < 0 || at - t.atNs[j - 1] <= t.atNs[j] - at)) best = j - 1;
    rttNs[i] = t.rttNs[best];
    gapNs[i] = Math.abs(t.atNs[best] - at);
  }
  return { rttNs, gapNs };
}
