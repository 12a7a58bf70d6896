/**
 * Which way a lost probe was lost (irtt's upstream/downstream split), from the server's per-session
 * counters (src/server/ping-sessions.ts): every reply carries how many of the session's Ping requests had
 * reached the server by then, this one included. Between two consecutive replies a and b (in send order),
 * the calls without a reply that reached the server number received(b) − received(a) − 1: those are
 * downstream losses (answered, but the answer never came back in time), the rest never got there (upstream).
 *
 * A call the transport never wrote (no connection) is upstream without asking the counters.
 *
 * Unknown, never guessed: calls after the last reply (no later counter), a stretch whose counters do not
 * fit (the server lost the session, or probes overtook each other on several connections), and a server
 * that keeps no counters. A stretch that mixes counted probes with uncounted calls (warm-up, references) and
 * both kinds of loss cannot say which were the counted ones, so its counted losses are unknown too.
 *
 * Several servers (replicas behind an edge) each count only what reached them, so stretches cannot be read
 * one by one; totals can. Let T be the earliest of the servers' last replies. For each server X, take its
 * first reply b at or after T: of the calls sent before b, received(b) − 1 reached X, and X's replies
 * before b answered some of them; the rest reached X and were lost on the way back. Summed over the
 * servers, that is the downstream count of the losses before T, exact when no call was lost between T and
 * the last of those b (else the split is unknown). Losses after T are unknown.
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
  /**
   * The transport never wrote the call to a connection (none could be made: the edge or the server is
   * gone): it certainly never reached a server, whatever the counters say.
   */
  neverSent?: boolean;
}

export interface LossByDirection {
  upstream: number;
  downstream: number;
  unknown: number;
  /** Why some losses are unknown (absent when none are). */
  unknown_reason?: string;
}

/** `calls` in the order they were sent on the session, from its first call. */
export function attributeLoss(all: readonly SessionCall[]): LossByDirection {
  // Calls never written are upstream losses outright, and take no part in the counters' arithmetic.
  const unsent = all.filter((c) => c.neverSent && !c.answered && c.counted).length;
  const judged = countersSplit(all.filter((c) => !(c.neverSent && !c.answered)));
  return { ...judged, upstream: judged.upstream + unsent };
}

function countersSplit(calls: readonly SessionCall[]): LossByDirection {
  const out: LossByDirection = { upstream: 0, downstream: 0, unknown: 0 };
  const reasons = new Set<string>();
  const lostCounted = calls.filter((c) => !c.answered && c.counted).length;
  if (lostCounted === 0) return out;
  const servers = new Set(calls.filter((c) => c.answered).map((c) => c.serverId ?? ''));
  const unknownAll = (why: string): LossByDirection => ({ upstream: 0, downstream: 0, unknown: lostCounted, unknown_reason: why });
  if (calls.some((c) => c.answered && !(c.received !== undefined && c.received > 0))) return unknownAll('the server keeps no per-session counters');
  if (servers.size > 1) return acrossServers(calls, [...servers]);

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

/** Totals over several servers, each with its own counters (the rule in the header of this file). */
function acrossServers(calls: readonly SessionCall[], servers: string[]): LossByDirection {
  const lastOf = (x: string): number => calls.reduce((at, c, i) => (c.answered && (c.serverId ?? '') === x ? i : at), -1);
  const t = Math.min(...servers.map(lastOf));
  const out: LossByDirection = { upstream: 0, downstream: 0, unknown: 0 };
  const after = calls.slice(t + 1).filter((c) => !c.answered && c.counted).length;
  const before = calls.slice(0, t).filter((c) => !c.answered);
  let downstream = 0;
  let horizon = t;
  for (const x of servers) {
    const b = calls.findIndex((c, i) => i >= t && c.answered && (c.serverId ?? '') === x);
    horizon = Math.max(horizon, b);
    const answeredBefore = calls.slice(0, b).filter((c) => c.answered && (c.serverId ?? '') === x).length;
    downstream += calls[b].received! - 1 - answeredBefore;
  }
  const reasons: string[] = [];
  const counted = before.filter((c) => c.counted).length;
  const lostInBetween = calls.slice(t + 1, horizon).some((c) => !c.answered);
  if (lostInBetween || downstream < 0 || downstream > before.length) {
    out.unknown += counted;
    if (counted > 0) reasons.push(lostInBetween ? 'calls were lost while the servers\' counters were being read' : 'the counters did not fit the calls sent (a server dropped the session)');
  } else if (downstream === 0) out.upstream += counted;
  else if (downstream === before.length) out.downstream += counted;
  else if (counted === before.length) {
    out.downstream += downstream;
    out.upstream += counted - downstream;
  } else {
    out.unknown += counted;
    reasons.push('both kinds of loss among calls that also held uncounted ones');
  }
  if (after > 0) {
    out.unknown += after;
    reasons.push(`after the last reply of one of the ${servers.length} servers (each counts only what reached it)`);
  }
  if (reasons.length > 0) out.unknown_reason = reasons.join('; ');
  return out;
}
