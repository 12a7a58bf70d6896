/**
 * Per-session Ping counters, so a client can split its lost probes by direction (irtt's upstream and
 * downstream loss): for each session id the client sends in metadata, how many Ping requests reached this
 * server and the highest seq among them. The client compares them with what it sent (src/measure/loss-direction.ts).
 *
 * Hostile clients in mind:
 * - bounded memory: at most `capacity` sessions, least recently used evicted first, and a session idle for
 *   `idleMs` is dropped; evicted counters start again from zero (the client then counts that stretch as
 *   "unknown", never as a loss of either kind);
 * - a session can read only its own counters, in the response to its own Ping, and nobody can reset them:
 *   the id is the client's random secret (128 bits from rtinfer), never listed or echoed elsewhere;
 * - a malformed id is refused with a clear INVALID_ARGUMENT instead of being stored.
 */
export const SESSION_HEADER = 'rtinfer-session';
const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;

export const DEFAULT_SESSION_CAPACITY = 4096;
export const DEFAULT_SESSION_IDLE_MS = 10 * 60_000;

export interface SessionCounters {
  received: bigint;
  highestSeq: bigint;
}

export interface PingSessions {
  /** Counts one Ping of `id` with `seq`; returns the session's counters after it (this Ping included). */
  count(id: string, seq: bigint): SessionCounters;
  /** Sessions held now. */
  size(): number;
}

/** Why a session id is refused, or undefined when it is acceptable. */
export function sessionIdProblem(id: string): string | undefined {
  return SESSION_ID.test(id) ? undefined : `${SESSION_HEADER} must be 16 to 64 characters of A-Z a-z 0-9 _ - (got ${id.length} characters)`;
}

interface Entry extends SessionCounters {
  lastMs: number;
}

export function createPingSessions(capacity = DEFAULT_SESSION_CAPACITY, idleMs = DEFAULT_SESSION_IDLE_MS, nowMs: () => number = Date.now): PingSessions {
  // A Map iterates in insertion order: re-inserting on every use keeps the least recently used first.
  const sessions = new Map<string, Entry>();
  const evictIdle = (now: number): void => {
    for (const [id, e] of sessions) {
      if (now - e.lastMs < idleMs) break;
      sessions.delete(id);
    }
  };
  return {
    count(id, seq): SessionCounters {
      const now = nowMs();
      evictIdle(now);
      let e = sessions.get(id);
      if (e) sessions.delete(id);
      else {
        e = { received: 0n, highestSeq: 0n, lastMs: now };
        if (sessions.size >= capacity) sessions.delete(sessions.keys().next().value as string);
      }
      e.received++;
      if (seq > e.highestSeq) e.highestSeq = seq;
      e.lastMs = now;
      sessions.set(id, e);
      return { received: e.received, highestSeq: e.highestSeq };
    },
    size: () => sessions.size,
  };
}
