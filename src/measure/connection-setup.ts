/**
 * What opening a connection cost, once per connection, as curl's `time_namelookup`, `time_connect` and
 * `time_appconnect` count it: each figure is cumulative from the start of the attempt. Ours adds the time
 * to the server's (or edge's) first HTTP/2 SETTINGS frame, the moment the connection can carry a call.
 */
import { nearestRankSorted, sortedCopy } from './stats';

export interface ConnectionSetup {
  /** Connections of this run in the order they were opened, from 0. */
  index: number;
  /** When the attempt started, s since the first connection's attempt. */
  at_s: number;
  /** Name resolution done (null: the target was an address, nothing was looked up). */
  dns_ms: number | null;
  /** TCP connected (Unix sockets: connected). */
  connect_ms: number;
  /** TLS handshake done (null: plaintext). */
  tls_ms: number | null;
  /** The peer's first SETTINGS frame parsed. */
  settings_ms: number;
}

export interface SetupFigure {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface ConnectionSetupSummary {
  count: number;
  dns_ms: SetupFigure | null;
  connect_ms: SetupFigure;
  tls_ms: SetupFigure | null;
  settings_ms: SetupFigure;
}

function figure(xs: number[]): SetupFigure | null {
  if (xs.length === 0) return null;
  const s = sortedCopy(xs);
  return { count: s.length, p50_ms: nearestRankSorted(s, 50), p99_ms: nearestRankSorted(s, 99), max_ms: s[s.length - 1] };
}

export function summarizeSetups(setups: ConnectionSetup[]): ConnectionSetupSummary | undefined {
  if (setups.length === 0) return undefined;
  const present = (f: (c: ConnectionSetup) => number | null): number[] => setups.map(f).filter((x): x is number => x !== null);
  return {
    count: setups.length,
    dns_ms: figure(present((c) => c.dns_ms)),
    connect_ms: figure(setups.map((c) => c.connect_ms))!,
    tls_ms: figure(present((c) => c.tls_ms)),
    settings_ms: figure(setups.map((c) => c.settings_ms))!,
  };
}

const f3 = (x: number): string => x.toFixed(3);
const fig = (name: string, f: SetupFigure | null): string | undefined => (f ? `${name} ${f.count > 1 ? `p50 ${f3(f.p50_ms)} p99 ${f3(f.p99_ms)}` : f3(f.p50_ms)}` : undefined);

/** `connection set-up (1 connection, cumulative as curl's time_*): tcp 0.180 | first SETTINGS 0.912 ms` */
export function setupText(s: ConnectionSetupSummary): string {
  const parts = [fig('dns', s.dns_ms), fig('tcp', s.connect_ms), fig('tls', s.tls_ms), fig('first SETTINGS', s.settings_ms)].filter((x): x is string => x !== undefined);
  return `connection set-up (${s.count} connection${s.count === 1 ? '' : 's'}, ms from the attempt's start, as curl's time_*): ${parts.join(' | ')} ms`;
}
