/**
 * One agent of a distributed load run (deploy/k8s/load: an Indexed Job, or `npm run load:local`): who it is
 * (JOB_COMPLETION_INDEX of RTINFER_AGENTS), the share of the total rate it offers (agent-share.ts), and the
 * common wall-clock instant it starts at. Kubernetes is the coordinator; agents never talk to each other.
 *
 * Before waiting for --start-at, an agent measures its clock against the server's (NTP-style Ping probes,
 * clock.ts): agents' clocks are only as close as the nodes' NTP keeps them, and the merge needs the
 * offsets to line the agents up and to bound how far apart they really started.
 */
import { performance } from 'node:perf_hooks';
import { shareOf } from '../measure/agent-share';
import type { AgentInfo } from '../measure/report-json';
import { sleepUntil } from '../measure/sleep';
import { UsageError } from '../shared/flag-checks';
import type { Connection } from './connect';
import { runPing } from './ping';
import { grpcJsTransport } from './unary-transport';

/** Environment an agent reads when its flags are not given (the Job sets both; Kubernetes sets the index). */
export const AGENT_ENV = { index: 'JOB_COMPLETION_INDEX', count: 'RTINFER_AGENTS' } as const;

/** Probes of the clock measurement, and their spacing: ~0.2 s, taken before the start instant. */
export const CLOCK_PROBES = 20;
const CLOCK_PROBE_INTERVAL_MS = 10;

/** The furthest ahead --start-at may be: a start days away is a typo, not a plan. */
export const MAX_START_AHEAD_MS = 24 * 3600e3;

/** An agent starting this much after --start-at gets a warning (the offset itself is always reported). */
export const LATE_START_WARN_MS = 100;

export interface AgentFlags {
  agents?: number;
  agentIndex?: number;
  startAt?: string;
  rate?: number;
  ratePerAgent?: number;
}

export interface AgentPlan {
  index: number;
  count: number;
  /** The rate this agent offers (undefined: closed loop). */
  rate?: number;
  totalRate?: number;
  /** --start-at in ms since the Unix epoch. */
  startAtMs?: number;
  startAtIso?: string;
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`$${name} must be an integer (got "${v}")`);
  return n;
}

/** Parses --start-at: an ISO 8601 date-time with a zone (Z or ±hh:mm), so every agent reads the same instant. */
export function parseStartAt(s: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    throw new UsageError(`--start-at must be an ISO 8601 time with a zone, e.g. 2026-01-31T12:00:00Z (got "${s}")`);
  }
  const ms = Date.parse(s);
  if (!Number.isFinite(ms)) throw new UsageError(`--start-at is not a valid time: "${s}"`);
  return ms;
}

/** The agent's identity and share from its flags, falling back to the Job's environment. */
export function planAgent(f: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentPlan {
  const count = f.agents ?? envInt(env, AGENT_ENV.count) ?? 1;
  const index = f.agentIndex ?? envInt(env, AGENT_ENV.index) ?? 0;
  if (!(Number.isInteger(count) && count >= 1)) throw new UsageError(`--agents (or $${AGENT_ENV.count}) must be an integer ≥ 1 (got ${count})`);
  if (!(Number.isInteger(index) && index >= 0 && index < count)) throw new UsageError(`--agent-index (or $${AGENT_ENV.index}) must be in [0, ${count}) (got ${index})`);
  if (f.rate !== undefined && f.ratePerAgent !== undefined) throw new UsageError('give --rate (the total, split across agents) or --rate-per-agent, not both');
  let rate: number | undefined;
  let totalRate: number | undefined;
  if (f.ratePerAgent !== undefined) {
    if (!(f.ratePerAgent > 0)) throw new UsageError(`--rate-per-agent must be > 0 (got ${f.ratePerAgent})`);
    rate = f.ratePerAgent;
    totalRate = f.ratePerAgent * count;
  } else if (f.rate !== undefined) {
    try {
      rate = shareOf(f.rate, count, index).rate;
    } catch (e) {
      throw new UsageError(`--rate: ${(e as Error).message}`);
    }
    totalRate = f.rate;
  }
  const startAtMs = f.startAt !== undefined ? parseStartAt(f.startAt) : undefined;
  return { index, count, rate, totalRate, startAtMs, startAtIso: f.startAt };
}

/** Whether the run is one agent of several, or was asked to start at an instant: then it reports `agent`. */
export function isDistributed(p: AgentPlan): boolean {
  return p.count > 1 || p.startAtMs !== undefined;
}

const wallNowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Measures the clock against the server, then waits for --start-at (precisely: sleep.ts). Resolves to the
 * report's `agent` section; a start already past is not an error — the agent starts at once and reports
 * how late it was.
 */
export async function startGate(conn: Connection, p: AgentPlan, signal?: AbortSignal): Promise<AgentInfo> {
  const info: AgentInfo = { index: p.index, count: p.count, ...(p.rate !== undefined ? { rate: p.rate } : {}), ...(p.totalRate !== undefined ? { total_rate: p.totalRate } : {}) };
  if (p.startAtMs === undefined) return info;
  if (p.startAtMs - wallNowMs() > MAX_START_AHEAD_MS) throw new UsageError(`--start-at ${p.startAtIso} is more than 24 h away`);
  info.start_at = p.startAtIso;
  const ping = await runPing(grpcJsTransport(conn), { count: CLOCK_PROBES, intervalMs: CLOCK_PROBE_INTERVAL_MS, payloadBytes: 0, responseBytes: 0, calibrationProbes: 0, warmReference: false, signal });
  const c = ping.summary.clock;
  if (c) info.clock = { offset_ms: c.offset_ms, error_bound_ms: c.error_bound_ms, probes: ping.summary.received };
  const leftMs = p.startAtMs - wallNowMs();
  if (leftMs > 0) await sleepUntil(process.hrtime.bigint() + BigInt(Math.round(leftMs * 1e6)), signal);
  info.start_late_ms = Math.max(0, wallNowMs() - p.startAtMs);
  return info;
}

/** The warning a late start gets (undefined when on time). */
export function lateStartWarning(a: AgentInfo): string | undefined {
  if (a.start_late_ms === undefined || a.start_late_ms <= LATE_START_WARN_MS) return undefined;
  return `agent ${a.index} started ${a.start_late_ms.toFixed(0)} ms after --start-at ${a.start_at} (it offered its share late; a merge reports the window all agents shared)`;
}
