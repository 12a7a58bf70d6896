/**
 * The per-hop waterfall of a run (path.ts computes it): one line per percentile, then what the PINGs were
 * and what could not be explained. Prints only what the summary holds.
 */
import type { LatencySummary } from './histogram';
import type { PathSummary } from './path';

const f2 = (x: number): string => x.toFixed(2);
const at = (s: LatencySummary | null, p: string): string => (s && s.count > 0 ? f2(s.percentiles_ms[p]) : '—');

/** `path p50: client→edge 1.21 | edge→server 10.40 | server 23.10 (queue 0.10 decode 4.00 infer 18.20) | other 0.60 ms` */
export function waterfallLine(s: PathSummary, p: 'p50' | 'p99'): string {
  const parts: string[] = [];
  parts.push(s.edge_detected ? `client→edge ${at(s.client_edge_rtt_ms, p)}` : `client↔server ${at(s.client_edge_rtt_ms, p)}`);
  if (s.edge_detected) parts.push(`edge→server ${at(s.edge_server_network_ms, p)}`);
  const st = s.server_stages_ms;
  const stages = st ? ` (queue ${at(st.queue, p)} decode ${at(st.decode, p)} infer ${at(st.inference, p)})` : '';
  parts.push(`server ${at(s.server_ms, p)}${stages}`);
  parts.push(`other ${at(s.unexplained_ms, p)} ms`);
  return `path ${p}: ${parts.join(' | ')}`;
}

export function pathText(s: PathSummary): string[] {
  if (s.calls === 0) return [];
  const l = [waterfallLine(s, 'p50'), waterfallLine(s, 'p99')];
  const h = s.edge_header;
  const edge = !s.edge_time_per_call
    ? 'edge detected on the stream\'s response headers; its upstream time comes once per stream, not per frame, so edge→server is inside "other"'
    : s.edge_detected
    ? `edge detected (x-envoy-upstream-service-time on ${h.present} of ${s.calls} responses, ${s.edge_resolution_ms} ms resolution; edge upstream p50 ${at(s.edge_upstream_ms, 'p50')} ms)`
    : 'no edge detected (no x-envoy-upstream-service-time on any response): the PINGs measure client↔server';
  const via = s.pings_via === 'same-connection' ? 'on the calls\' own connection' : 'on a separate HTTP/2 connection to the same peer (this verb\'s transport cannot send PINGs)';
  const gap = s.pings.gap_p50_ms === null ? '' : `, nearest PING p50 ${f2(s.pings.gap_p50_ms)} ms away`;
  l.push(`path: ${edge}; ${s.pings.answered} of ${s.pings.sent} HTTP/2 PINGs answered ${via}, ${s.pings.paired_calls} of ${s.calls} calls paired${gap}`);
  if (h.garbage > 0) l.push(`path: ${h.garbage} responses had an unreadable x-envoy-upstream-service-time (not used)`);
  for (const r of s.replicas ?? []) {
    l.push(`path replica ${r.server_id}: ${r.count} calls, server p50 ${at(r.server_ms, 'p50')} p99 ${at(r.server_ms, 'p99')} ms${r.edge_server_network_ms ? `, edge→server p50 ${at(r.edge_server_network_ms, 'p50')} p99 ${at(r.edge_server_network_ms, 'p99')} ms` : ''}`);
  }
  return l;
}

/** Residuals the decomposition cannot explain, for the warnings (empty when there are none beyond resolution). */
export function pathWarnings(s: PathSummary): string[] {
  const w: string[] = [];
  const n = s.negative_residual;
  if (n.beyond_resolution > 0) {
    w.push(`path: for ${n.beyond_resolution} of ${s.calls} calls the hops add up to more than the call took (by up to ${f2(n.max_ms)} ms, beyond the ${s.edge_detected ? `${s.edge_resolution_ms} ms header resolution` : 'figures\' resolution'}): "other" is clamped at 0 for them; the PING of their moment was slower than their own round trip`);
  }
  const e = s.negative_edge_server;
  if (e.count > 0) w.push(`path: for ${e.count} calls the edge's upstream time was below the server's own total beyond the header's resolution (by up to ${f2(e.max_ms)} ms): edge→server is clamped at 0 for them`);
  return w;
}
