/**
 * `rtinfer ping`'s text: one line per probe as replies arrive, then the summary, in ping's own layout.
 * Prints only what ping-summary.ts computed.
 */
import type { LatencySummary } from './histogram';
import { setupText } from './connection-setup';
import { pathText } from './path-printer';
import { WAKE_UP_THRESHOLD, type KeepWarmInfo, type PingSummary, type Probe, type SpreadMs } from './ping-summary';

const f3 = (x: number): string => x.toFixed(3);
const spread = (x: SpreadMs): string => `p50 ${f3(x.p50_ms)} p99 ${f3(x.p99_ms)} max ${f3(x.max_ms)} ms`;
const via = (v: KeepWarmInfo['via']): string => (v === 'http2-ping' ? 'HTTP/2 PING' : 'extra probe');

/** For the header and the summary: what --keep-warm sends between probes. */
export function keepWarmText(k: Pick<KeepWarmInfo, 'via' | 'interval_ms'>): string {
  return `keep-warm on: an ${via(k.via)} every ${k.interval_ms} ms between probes (not counted)`;
}

export function probeLine(p: Probe): string {
  if (p.rtt_ns === undefined) return `seq=${p.seq} ${p.status}${p.message ? `: ${p.message}` : ''}`;
  return `${p.bytes_down ?? 0} bytes from server: seq=${p.seq} up=${p.bytes_up} B rtt=${f3(p.rtt_ns / 1e6)} ms net=${f3((p.net_rtt_ns ?? 0) / 1e6)} ms${p.late ? ' (late)' : ''}`;
}

/** The idle wake-up warning's lines (none unless the summary flags it); the JSON's `warnings` gets them too. */
export function wakeUpWarning(s: PingSummary): string[] {
  const u = s.wake_up;
  if (!u?.warning) return [];
  const every = s.schedule.mean_interval_ms;
  return [
    `warning: idle wake-up: rtt p50 ${f3(u.rtt_p50_ms)} ms at a ${every} ms interval vs ${f3(u.warm_p50_ms)} ms on a warm path (+${f3(u.excess_ms)} ms, +${u.excess_percent.toFixed(0)} %; flagged above +${WAKE_UP_THRESHOLD.min_excess_ms} ms and +${WAKE_UP_THRESHOLD.min_excess_percent} %).`,
    `  After ${every} ms without traffic the path is slow to wake: idle CPUs leave their sleep states and the client's and server's threads must be scheduled again.`,
    `  An application that sends this rarely pays it too; it is not the network's or the busy server's latency. To measure the awake path: a smaller --interval-ms (e.g. 20) or --keep-warm.`,
  ];
}

export function summaryText(target: string, s: PingSummary): string {
  const l: string[] = [];
  const r = s.rtt;
  const pr = (x: LatencySummary): string =>
    `${f3(x.min_ms)}/${f3(x.mean_ms)}/${f3(x.percentiles_ms.p50)}/${f3(x.percentiles_ms.p90)}/${f3(x.percentiles_ms.p99)}/${f3(x.max_ms)}/${f3(x.stddev_ms)} ms`;
  l.push(`--- ${target} ping statistics ---`);
  l.push(`${s.sent} probes sent, ${s.received} received, ${s.lost} lost (${s.loss_percent.toFixed(1)} %), ${s.late} late, time ${(s.duration_s * 1000).toFixed(0)} ms`);
  if (s.lost > 0) {
    l.push(`lost: ${Object.entries(s.status_counts).filter(([k]) => k !== 'OK').map(([k, v]) => `${k} ×${v}`).join(', ')}`);
    const d = s.loss;
    l.push(`lost by direction: ${d.upstream} upstream (never reached the server), ${d.downstream} downstream (answered, reply never came back in time), ${d.unknown} unknown${d.unknown_reason ? ` (${d.unknown_reason})` : ''}`);
  }
  if (r.count > 0) {
    l.push(`rtt     min/mean/p50/p90/p99/max/stddev = ${pr(r)}`);
    l.push(`net rtt min/mean/p50/p90/p99/max/stddev = ${pr(s.net_rtt)}  (rtt − server hold time)`);
    const j = s.jitter;
    l.push(`jitter rtt:     RFC 3550 ${f3(j.rtt.rfc3550_ms)} ms, mean |ΔRTT| ${f3(j.rtt.mean_abs_ipdv_ms)} ms, max ${f3(j.rtt.max_abs_ipdv_ms)} ms (${j.rtt.pairs} pairs)`);
    l.push(`jitter send:    RFC 3550 ${f3(j.send.rfc3550_ms)} ms, mean |IPDV| ${f3(j.send.mean_abs_ipdv_ms)} ms`);
    l.push(`jitter receive: RFC 3550 ${f3(j.receive.rfc3550_ms)} ms, mean |IPDV| ${f3(j.receive.mean_abs_ipdv_ms)} ms`);
  }
  if (s.timer_error) l.push(`timer error (actual − scheduled send): ${spread(s.timer_error)} (${s.timer_error.count} probes; not part of the rtt)`);
  const w = s.warm_reference;
  if (w) {
    const rtt = w.received > 0 ? `rtt ${spread(w.rtt)}` : 'no reply';
    l.push(`warm reference: ${rtt} (${w.received} of ${w.sent} extra probes, each ${w.lead_ms} ms after an ${via(w.warm_up)}; not in the figures above)`);
  }
  if (s.keep_warm_traffic) l.push(`${keepWarmText(s.keep_warm_traffic)}, ${s.keep_warm_traffic.sent} sent`);
  l.push(...wakeUpWarning(s));
  if (s.clock) {
    const c = s.clock;
    l.push(`clock offset (server − client) ${c.offset_ms >= 0 ? '+' : ''}${f3(c.offset_ms)} ms ± ${f3(c.error_bound_ms)} ms (from the ${c.samples_used} lowest-delay ${c.from === 'calibration' ? 'calibration ' : ''}probe(s))`);
    l.push(`one-way delay (estimated): send mean ${f3(c.send_delay.mean_ms)} p50 ${f3(c.send_delay.percentiles_ms.p50)} p99 ${f3(c.send_delay.percentiles_ms.p99)} ms; receive mean ${f3(c.receive_delay.mean_ms)} p50 ${f3(c.receive_delay.percentiles_ms.p50)} p99 ${f3(c.receive_delay.percentiles_ms.p99)} ms`);
  }
  if (s.throughput) {
    const t = s.throughput;
    const up = t.up_mb_per_s !== undefined ? `up ${t.up_mb_per_s.toFixed(2)} MB/s (${t.up_bytes} B)` : '';
    const down = t.down_mb_per_s !== undefined ? `down ${t.down_mb_per_s.toFixed(2)} MB/s (${t.down_bytes} B)` : '';
    l.push(`throughput: ${[up, down].filter(Boolean).join(', ') || 'n/a (no measurable transfer time)'}`);
  }
  if (s.path) l.push(...pathText(s.path));
  if (s.connection_setup) l.push(setupText(s.connection_setup));
  if (s.cold_path) {
    const c = s.cold_path;
    l.push(`cold vs warm path (a new connection every ${c.new_connection_every} probes): first probe on a fresh connection rtt ${spread(c.cold_rtt)} (${c.cold_rtt.count}); other probes ${spread(c.warm_rtt)} (${c.warm_rtt.count})`);
  }
  return l.join('\n');
}
