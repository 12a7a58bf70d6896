/**
 * Which way a lost probe was lost (irtt's upstream/downstream split), from the server's per-session
 * counters (src/server/ping-sessions.ts): every reply carries how many of the session's Ping requests had
 * reached the server by then, this one included. Between two consecutive replies a and b (in send order),
 * the calls without a reply that reached the server number received(b) − received(a) − 1: those are
 * downstream losses (answered, but the answer never came back in time), the rest never got there (upstream).
 *
 * Unknown, never guessed: calls after the last reply (no later counter), a stretch whose counters do not
 * fit (the server lost the session, or probes overtook each other on several connections), a server that
 * keeps no counters, and any run answered by more than one server (each keeps its own counters). A stretch
 * that mixes counted probes with uncounted calls (warm-up, references) and both kinds of loss cannot say
 * which were the counted ones, so its counted losses are unknown too.
 */
export interface SessionCall {
  /** A reply came (status OK) with the session's counters. */
  answered: boolean;
  /** The reply's session_pings_received (answered calls only). */
  received?: number;
  /** The reply's server_id ('' or undefined when the server sends none). */
  serverId?: string;
  /** The call is one of the probes the summary counts (measured, not warm-up or reference). */
  counted: boolean;
}

export interface LossByDirection {
  upstream: number;
  downstream: number;
  unknown: number;
  /** Why some losses are unknown (absent when none are). */
  unknown_reason?: string;
}

/** `calls` in the order they were sent on the session, from its first call. */
export function attributeLoss(calls: readonly SessionCall[]): LossByDirection {
  const out: LossByDirection = { upstream: 0, downstream: 0, unknown: 0 };
  const reasons = new Set<string>();
  const lostCounted = calls.filter((c) => !c.answered && c.counted).length;
  if (lostCounted === 0) return out;
  const servers = new Set(calls.filter((c) => c.answered).map((c) => c.serverId ?? ''));
  const unknownAll = (why: string): LossByDirection => ({ upstream: 0, downstream: 0, unknown: lostCounted, unknown_reason: why });
  if (servers.size > 1) return unknownAll(`replies came from ${servers.size} servers, and each counts only what reached it`);
  if (calls.some((c) => c.answered && !(c.received !== undefined && c.received > 0))) return unknownAll('the server keeps no per-session counters');

  let prev = 0;
  let gap: SessionCall[] = [];
  for (const c of calls) {
    if (!c.answered) {
      gap.push(c);
      continue;
    }
    const reached = c.received! - prev - 1;
    prev = c.received!;
    const counted = gap.filter((g) => g.counted).length;
    if (counted > 0) {
      if (reached < 0 || reached > gap.length) {
        out.unknown += counted;
        reasons.add('the counters did not fit the calls sent (the server dropped the session, or probes overtook each other)');
      } else if (reached === 0) out.upstream += counted;
      else if (reached === gap.length) out.downstream += counted;
      else if (counted === gap.length) {
        out.downstream += reached;
        out.upstream += counted - reached;
      } else {
        out.unknown += counted;
        reasons.add('both kinds of loss in a stretch that also held uncounted calls');
      }
    }
    gap = [];
  }
  const trailing = gap.filter((g) => g.counted).length;
  if (trailing > 0) {
    out.unknown += trailing;
    reasons.add('no reply after them carried the counters');
  }
  if (reasons.size > 0) out.unknown_reason = [...reasons].join('; ');
  return out;
}
