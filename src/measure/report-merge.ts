/**
 * `rtinfer report --merge`: the `--json` runs of a distributed load test's agents as one run.
 *
 * Exact by construction: every agent's latency histogram uses one layout (histogram.ts HDR_LAYOUT) and
 * travels losslessly (hdr-codec.ts), so adding them bucket by bucket gives the histogram of all samples
 * pooled; the merged percentiles are those of the pooled samples at that resolution (1 µs below 2.048 ms,
 * ≤ 1/1024 of the value above). The exact min and max each agent recorded are carried over, so a percentile
 * landing in the top bucket is clamped to the true maximum exactly as a single run's is.
 *
 * Lining agents up: each agent's measurement start (summary.measure_start_unix_ms) is moved onto the
 * server's clock by the agent's measured offset (when every agent measured one: runs with --start-at), and
 * agent i's seconds are shifted by k_i = round((start_i − earliest start) / 1 s), so second t of the merged
 * series adds the agents' seconds that fell in it. What that rounding leaves (`alignment_ms`), how far apart
 * the agents started (`start_spread_ms`) and how far apart their clocks were (`clock_skew`) are reported.
 *
 * Per-replica figures (summary.replicas) are added by server_id the same way: counts summed, histograms added
 * exactly, server timing as count-weighted means, shares taken again over the total. The per-hop
 * decomposition (summary.path) is not merged (its hop percentiles carry no histograms); the merged run says so.
 *
 * Counts (sent, ok, errors, …) are totals over all agents. Rates (throughput_rps, images_per_s, MB/s) are
 * over the common window: the whole seconds in which every agent was measuring, summed over agents and
 * divided by the window's length; `duration_s` is that window.
 */
import { decodeHdr, encodeHdr } from './hdr-codec';
import { createLatencyHistogram, LatencyHistogram, LatencySummary, percentileMs, summarize } from './histogram';
import type { ReplicaSummary } from './replicas';
import { environment, FORMAT_VERSION, histogramSection, LoadSummary, MergeInfo, newReport, RunReport, TOOL_NAME } from './report-json';
import { assessStability, chooseWindowSeconds, windowsOf } from './stability';
import type { SeriesPoint } from './timeseries';
import type { TimingSummary } from './timing';
import { verdict } from './verdict';

export interface MergeInput {
  file: string;
  report: RunReport;
}

const MERGEABLE_VERBS = new Set(['bench', 'stream']);

type Latency = LatencySummary & { hdr?: unknown };

interface Agent {
  file: string;
  report: RunReport;
  summary: LoadSummary & Record<string, unknown>;
  latency: LatencyHistogram;
  service: LatencyHistogram;
  /** Measurement start on the common clock, ms. */
  startMs: number;
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isCount = (x: unknown): x is number => isNum(x) && x >= 0;

/** Agents whose measurements began further apart than this are not one distributed run. */
const MAX_START_SPREAD_MS = 3600e3;

const SERIES_FIELDS = ['ok', 'errors', 'images', 'bytes_up', 'bytes_down', 'mean_ms', 'max_ms'] as const;

/** A histogram from a summary's `hdr`, with the exact min/max the summary recorded (checked against its buckets). */
function exactHistogram(l: Latency | undefined, what: string): LatencyHistogram {
  if (!l || typeof l !== 'object') throw new Error(`${what}: missing`);
  const h = decodeHdr(l.hdr, what);
  if (h.hdr.totalCount !== l.count) throw new Error(`${what}: its histogram holds ${h.hdr.totalCount} samples but its count says ${l.count}`);
  if (l.count > 0) setExactRange(h, Math.round(l.min_ms * 1000), Math.round(l.max_ms * 1000), what);
  return h;
}

/**
 * A decoded histogram knows its extreme buckets, not the extreme values; restores the recorded ones after
 * checking that they lie in those buckets.
 */
function setExactRange(h: LatencyHistogram, minUs: number, maxUs: number, what: string): void {
  const js = h.hdr as unknown as { maxValue: number; minNonZeroValue: number; lowestEquivalentValue(v: number): number; highestEquivalentValue(v: number): number };
  if (!(maxUs >= js.lowestEquivalentValue(js.maxValue) && maxUs <= js.maxValue) || !(minUs >= js.lowestEquivalentValue(js.minNonZeroValue) && minUs <= js.highestEquivalentValue(js.minNonZeroValue))) {
    throw new Error(`${what}: min/max (${minUs} µs, ${maxUs} µs) disagree with its histogram`);
  }
  js.maxValue = maxUs;
  js.minNonZeroValue = minUs;
}

function addExact(into: LatencyHistogram, from: LatencyHistogram): void {
  const minUs = Math.min(into.hdr.totalCount > 0 ? into.hdr.minNonZeroValue : Infinity, from.hdr.minNonZeroValue);
  const maxUs = Math.max(into.hdr.maxValue, from.hdr.maxValue);
  into.hdr.add(from.hdr);
  const js = into.hdr as unknown as { maxValue: number; minNonZeroValue: number };
  js.maxValue = maxUs;
  js.minNonZeroValue = minUs;
}

function withHdr(h: LatencyHistogram): LatencySummary & { hdr: string } {
  return { ...summarize(h), hdr: encodeHdr(h) };
}

function checkRun(x: MergeInput): Agent {
  const r = x.report;
  const f = x.file;
  if (r.tool?.name !== TOOL_NAME) throw new Error(`${f} is not an ${TOOL_NAME} --json run`);
  if (r.format_version !== FORMAT_VERSION) {
    throw new Error(`${f} has format_version ${String(r.format_version)}; this ${TOOL_NAME} merges only format_version ${FORMAT_VERSION} runs (their histograms and series are not known to add up exactly). Re-run that agent with this ${TOOL_NAME}.`);
  }
  if (!MERGEABLE_VERBS.has(r.verb)) throw new Error(`${f} is a ${r.verb} run; --merge takes bench and stream runs`);
  if (r.sweep) throw new Error(`${f} is a concurrency sweep; --merge takes single-level runs`);
  const s = r.summary as LoadSummary & Record<string, unknown>;
  if (!s || (s.mode !== 'open' && s.mode !== 'closed')) throw new Error(`${f}: no load summary (summary.mode)`);
  for (const k of ['sent', 'completed', 'ok', 'errors', 'unfinished', 'duration_s', 'measure_start_unix_ms'] as const) {
    if (!isNum(s[k])) throw new Error(`${f}: summary.${k} missing or not a number (written by an ${TOOL_NAME} without lossless histograms?)`);
  }
  if (!Array.isArray(r.series)) throw new Error(`${f}: series missing`);
  for (const p of r.series) {
    if (!p || typeof p !== 'object') throw new Error(`${f}: a series point is not an object`);
    for (const k of SERIES_FIELDS) if (!isCount(p[k])) throw new Error(`${f}: series second ${String(p.t_s)}: ${k} is not a number ≥ 0`);
  }
  for (const [k, v] of Object.entries(r.status_counts ?? {})) if (!isCount(v)) throw new Error(`${f}: status_counts.${k} is not a count`);
  for (const e of r.errors ?? []) if (typeof e?.message !== 'string' || !isCount(e.count)) throw new Error(`${f}: an errors entry is not {message, count}`);
  const ag = r.agent;
  if (ag !== undefined && (!Number.isInteger(ag.index) || ag.index < 0 || !Number.isInteger(ag.count) || ag.count < 1)) throw new Error(`${f}: agent.index/count are not whole numbers`);
  if (ag?.clock !== undefined && !(isNum(ag.clock.offset_ms) && isCount(ag.clock.error_bound_ms))) throw new Error(`${f}: agent.clock is not {offset_ms, error_bound_ms}`);
  const latency = exactHistogram(s.latency, `${f}: summary.latency`);
  const service = exactHistogram(s.service_latency, `${f}: summary.service_latency`);
  if (typeof r.histogram?.hdr === 'string' && r.histogram.hdr !== (s.latency as Latency).hdr) throw new Error(`${f}: histogram.hdr differs from summary.latency.hdr`);
  return { file: f, report: r, summary: s, latency, service, startMs: s.measure_start_unix_ms };
}

interface Alignment {
  /** Seconds each agent's series is shifted by. */
  shift: number[];
  alignedOn: 'server clock' | 'agent clocks';
  startSpreadMs: number;
  alignmentMs: number;
  clockSkew: MergeInfo['clock_skew'];
}

function align(agents: Agent[]): Alignment {
  const clocks = agents.map((a) => a.report.agent?.clock);
  const allClocks = clocks.every((c) => c !== undefined && isNum(c.offset_ms) && isNum(c.error_bound_ms));
  const starts = agents.map((a, i) => a.startMs + (allClocks ? clocks[i]!.offset_ms : 0));
  const t0 = Math.min(...starts);
  if (Math.max(...starts) - t0 > MAX_START_SPREAD_MS) {
    throw new Error(`the runs' measurements began ${((Math.max(...starts) - t0) / 3600e3).toFixed(1)} h apart (${agents[starts.indexOf(t0)].file} first, ${agents[starts.indexOf(Math.max(...starts))].file} last): not one distributed run`);
  }
  const shift = starts.map((s) => Math.round((s - t0) / 1000));
  const alignmentMs = Math.max(...starts.map((s, i) => Math.abs(s - t0 - shift[i] * 1000)));
  let clockSkew: Alignment['clockSkew'];
  if (allClocks && agents.length > 0) {
    const offs = clocks.map((c) => c!.offset_ms);
    const errs = clocks.map((c) => c!.error_bound_ms).sort((a, b) => b - a);
    const skew = Math.max(...offs) - Math.min(...offs);
    const bound = errs[0] + (errs[1] ?? 0);
    clockSkew = { measured: true, max_skew_ms: skew, error_bound_ms: bound, text: `agents' clocks differ by ${skew.toFixed(3)} ms ± ${bound.toFixed(3)} ms (each measured against the server; corrected before lining up)` };
  } else {
    clockSkew = { measured: false, text: 'agents\' clocks not measured (run the agents with --start-at): lined up on their own clocks, as far apart as their NTP keeps them' };
  }
  return { shift, alignedOn: allClocks ? 'server clock' : 'agent clocks', startSpreadMs: Math.max(...starts) - t0, alignmentMs, clockSkew };
}

interface SecondSum {
  ok: number;
  errors: number;
  images: number;
  bytesUp: number;
  bytesDown: number;
  latSumMs: number;
  hist?: LatencyHistogram;
  maxMs: number;
}

function mergeSeries(agents: Agent[], shift: number[]): SeriesPoint[] {
  const secs: SecondSum[] = [];
  agents.forEach((a, i) => {
    for (const p of a.report.series) {
      const t = p.t_s + shift[i];
      if (!(Number.isInteger(p.t_s) && p.t_s >= 0 && p.t_s < 1e6)) throw new Error(`${a.file}: series t_s ${String(p.t_s)} is not a second index`);
      while (secs.length <= t) secs.push({ ok: 0, errors: 0, images: 0, bytesUp: 0, bytesDown: 0, latSumMs: 0, maxMs: 0 });
      const s = secs[t];
      s.ok += p.ok;
      s.errors += p.errors;
      s.images += p.images;
      s.bytesUp += p.bytes_up;
      s.bytesDown += p.bytes_down;
      s.latSumMs += p.mean_ms * p.ok;
      if (p.ok > 0) {
        const h = decodeHdr(p.hdr, `${a.file}: series second ${p.t_s}`);
        if (h.hdr.totalCount !== p.ok) throw new Error(`${a.file}: series second ${p.t_s} holds ${h.hdr.totalCount} latencies for ${p.ok} OK responses`);
        setExactRange(h, h.hdr.minNonZeroValue, Math.round(p.max_ms * 1000), `${a.file}: series second ${p.t_s}`);
        if (s.hist) addExact(s.hist, h);
        else s.hist = h;
        s.maxMs = Math.max(s.maxMs, p.max_ms);
      }
    }
  });
  return secs.map((s, t_s) => ({
    t_s,
    ok: s.ok,
    errors: s.errors,
    images: s.images,
    bytes_up: s.bytesUp,
    bytes_down: s.bytesDown,
    mean_ms: s.ok === 0 ? 0 : s.latSumMs / s.ok,
    p50_ms: s.hist ? percentileMs(s.hist, 50) : 0,
    p99_ms: s.hist ? percentileMs(s.hist, 99) : 0,
    max_ms: s.maxMs,
    ...(s.hist ? { hdr: encodeHdr(s.hist) } : {}),
  }));
}

function mergeTiming(ts: TimingSummary[]): TimingSummary {
  const count = ts.reduce((n, t) => n + (t.count ?? 0), 0);
  const mean = (k: keyof TimingSummary): number => (count === 0 ? 0 : ts.reduce((x, t) => x + (t[k] ?? 0) * (t.count ?? 0), 0) / count);
  const parts = mean('queue_ms') + mean('decode_ms') + mean('preprocess_ms') + mean('inference_ms') + mean('postprocess_ms');
  return {
    count,
    queue_ms: mean('queue_ms'),
    decode_ms: mean('decode_ms'),
    preprocess_ms: mean('preprocess_ms'),
    inference_ms: mean('inference_ms'),
    postprocess_ms: mean('postprocess_ms'),
    server_total_ms: mean('server_total_ms'),
    server_other_ms: Math.max(0, mean('server_total_ms') - parts),
    mean_batch_size: mean('mean_batch_size'),
    client_overhead_ms: mean('client_overhead_ms'),
  };
}

/** summary.replicas of every agent, added by server_id (module comment); undefined when no agent has any. */
function mergeReplicas(agents: Agent[], warnings: string[]): ReplicaSummary[] | undefined {
  if (agents.every((a) => !Array.isArray(a.summary.replicas) || a.summary.replicas.length === 0)) return undefined;
  const by = new Map<string, { ok: number; errors: number; latency: LatencyHistogram; timing: TimingSummary[] }>();
  for (const a of agents) {
    for (const r of (a.summary.replicas as ReplicaSummary[] | undefined) ?? []) {
      if (r.latency?.hdr === undefined) {
        warnings.push(`${a.file} has per-replica figures without their histograms (written by an older ${TOOL_NAME}), so the merged run has none: read each agent's run`);
        return undefined;
      }
      const h = exactHistogram(r.latency, `${a.file}: summary.replicas (${String(r.server_id).slice(0, 64)}).latency`);
      if (h.hdr.totalCount !== r.ok) throw new Error(`${a.file}: summary.replicas (${String(r.server_id).slice(0, 64)}) counts ${r.ok} OK but its histogram holds ${h.hdr.totalCount}`);
      let m = by.get(r.server_id);
      if (!m) by.set(r.server_id, (m = { ok: 0, errors: 0, latency: createLatencyHistogram(), timing: [] }));
      m.ok += r.ok;
      m.errors += isCount(r.errors) ? r.errors : 0;
      if (h.hdr.totalCount > 0) addExact(m.latency, h);
      m.timing.push(r.server_timing);
    }
  }
  let okAll = 0;
  for (const m of by.values()) okAll += m.ok;
  return [...by.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([server_id, m]) => ({ server_id, ok: m.ok, errors: m.errors, share: okAll > 0 ? m.ok / okAll : 0, latency: withHdr(m.latency), server_timing: mergeTiming(m.timing) }));
}

const sum = (agents: Agent[], k: string): number => agents.reduce((n, a) => n + (isNum(a.summary[k]) ? (a.summary[k] as number) : 0), 0);

/** One run from several agents' runs (see the module comment); throws, naming the file, on anything it cannot add exactly. */
export function mergeRuns(inputs: MergeInput[], now: Date = new Date()): RunReport {
  if (inputs.length === 0) throw new Error('--merge needs at least one run');
  const agents = inputs.map(checkRun);
  const first = agents[0];
  for (const a of agents) {
    if (a.report.verb !== first.report.verb) throw new Error(`${a.file} is a ${a.report.verb} run and ${first.file} a ${first.report.verb} run; merge runs of one verb`);
    if (a.summary.mode !== first.summary.mode) throw new Error(`${a.file} ran a ${a.summary.mode} loop and ${first.file} a ${first.summary.mode} loop; merge runs of one mode`);
  }
  const warnings: string[] = [];
  const seen = new Map<number, string>();
  for (const a of agents) {
    const ag = a.report.agent;
    if (!ag) continue;
    const other = seen.get(ag.index);
    if (other !== undefined) throw new Error(`agent ${ag.index} appears twice (${other} and ${a.file}); each agent's run is merged once`);
    seen.set(ag.index, a.file);
    if (ag.count !== agents.length) warnings.push(`${a.file} was agent ${ag.index} of ${ag.count}, but ${agents.length} runs are merged`);
  }
  const targets = new Set(agents.map((a) => a.report.environment?.target));
  if (targets.size > 1) warnings.push(`the agents loaded different targets: ${[...targets].join(', ')}`);
  for (const a of agents) for (const w of a.report.warnings ?? []) warnings.push(`${a.file}: ${w}`);

  const al = align(agents);
  const latency = createLatencyHistogram();
  const service = createLatencyHistogram();
  for (const a of agents) {
    if (a.latency.hdr.totalCount > 0) addExact(latency, a.latency);
    if (a.service.hdr.totalCount > 0) addExact(service, a.service);
  }
  const series = mergeSeries(agents, al.shift);
  // The common window: whole seconds in which every agent was measuring.
  const from = Math.max(...agents.map((_, i) => al.shift[i]));
  const to = Math.min(...agents.map((a, i) => al.shift[i] + Math.floor(a.summary.duration_s + 1e-9)));
  const windowS = Math.max(0, to - from);
  const common = series.slice(from, from + windowS);
  if (windowS === 0) warnings.push('the agents\' measurements share no whole second, so the merged rates are 0: start them together (--start-at) and measure for longer');
  const inWindow = (k: 'ok' | 'images' | 'bytes_up' | 'bytes_down'): number => common.reduce((n, p) => n + p[k], 0);
  const rate = (x: number): number => (windowS > 0 ? x / windowS : 0);

  const verb = first.report.verb;
  const rep = newReport(verb, {}, { ...environment(String(first.report.environment?.target ?? '')) }, now);
  rep.date = agents.map((a) => a.report.date).sort()[0];
  rep.environment = { ...first.report.environment, hostname: [...new Set(agents.map((a) => a.report.environment?.hostname))].join(',') };
  // The rate each agent offered: its share of --rate, or a stream's frame rate.
  const rateOf = (a: Agent): number | undefined => {
    const r = a.report.agent?.rate ?? (verb === 'stream' ? a.summary.fps_target : a.report.settings?.agentRate);
    return isNum(r) ? r : undefined;
  };
  const totalRate = agents.reduce((n, a) => n + (rateOf(a) ?? 0), 0);
  rep.settings = {
    ...first.report.settings,
    merged_from: agents.map((a) => a.file),
    agents: agents.length,
    ...(totalRate > 0 ? { agentRate: totalRate } : {}),
    // Every agent streams at its own --fps: the merged run streamed at their sum.
    ...(verb === 'stream' && totalRate > 0 ? { fps: totalRate } : {}),
  };

  const endReasons = [...new Set(agents.map((a) => a.summary.end_reason))];
  const s: LoadSummary & Record<string, unknown> = {
    mode: first.summary.mode,
    sent: sum(agents, 'sent'),
    completed: sum(agents, 'completed'),
    ok: sum(agents, 'ok'),
    errors: sum(agents, 'errors'),
    unfinished: sum(agents, 'unfinished'),
    warmup_requests: sum(agents, 'warmup_requests'),
    end_reason: endReasons.length === 1 ? endReasons[0] : `mixed: ${endReasons.join(', ')}`,
    duration_s: windowS,
    throughput_rps: rate(inWindow('ok')),
    images_per_s: rate(inWindow('images')),
    mb_per_s_up: rate(inWindow('bytes_up')) / 1e6,
    mb_per_s_down: rate(inWindow('bytes_down')) / 1e6,
    latency: withHdr(latency),
    service_latency: withHdr(service),
    measure_start_unix_ms: Math.min(...agents.map((a, i) => a.startMs - al.shift[i] * 1000)),
    server_timing: mergeTiming(agents.map((a) => a.summary.server_timing)),
    scheduled: sum(agents, 'scheduled'),
    sent_late: sum(agents, 'sent_late'),
    client_busy: Math.max(...agents.map((a) => (isNum(a.summary.client_busy) ? a.summary.client_busy : 0))),
  };
  for (const k of ['dropped', 'over_budget'] as const) if (agents.some((a) => isNum(a.summary[k]))) s[k] = sum(agents, k);
  const replicas = mergeReplicas(agents, warnings);
  if (replicas) s.replicas = replicas;
  const withPath = agents.filter((a) => a.summary.path !== undefined).length;
  if (withPath > 0) warnings.push(`the per-hop decomposition (path) of ${withPath} agent run(s) is not merged: its hop percentiles carry no histograms to add; read it in each agent's run`);
  if (verb === 'stream') {
    s.fps_target = sum(agents, 'fps_target');
    s.achieved_fps = s.images_per_s;
  }
  rep.summary = s;
  rep.histogram = histogramSection(latency);
  rep.series = series;
  for (const a of agents) {
    for (const [k, v] of Object.entries(a.report.status_counts ?? {})) rep.status_counts[k] = (rep.status_counts[k] ?? 0) + v;
  }
  const errs = new Map<string, number>();
  for (const a of agents) for (const e of a.report.errors ?? []) errs.set(e.message, (errs.get(e.message) ?? 0) + e.count);
  rep.errors = [...errs].map(([message, count]) => ({ message, count }));
  const w = chooseWindowSeconds(common);
  rep.stability = assessStability(windowsOf(common, w), w);
  if (al.alignmentMs > 100) warnings.push(`the agents started ${al.startSpreadMs.toFixed(0)} ms apart; their seconds line up only to ${al.alignmentMs.toFixed(0)} ms (start them with --start-at, far enough ahead that every agent is ready)`);
  rep.warnings = warnings;

  const set = first.report.settings as { budgetMs?: number; percentile?: number; fps?: number };
  const v = verdict({
    budgetMs: set.budgetMs,
    fps: verb === 'stream' ? (s.fps_target as number) : set.fps,
    percentile: set.percentile,
    latencyAtPercentileMs: percentileMs(latency, set.percentile ?? 99),
    achievedFps: s.images_per_s,
    total: s.completed + s.unfinished,
    errors: s.errors + s.unfinished,
    dropped: verb === 'stream' ? (s.dropped as number | undefined) ?? 0 : undefined,
    late: s.over_budget as number | undefined,
  });
  if (v) rep.verdict = v;

  rep.merge = {
    agents: agents.map((a, i) => {
      const l = a.summary.latency;
      return {
        file: a.file,
        index: a.report.agent?.index,
        hostname: a.report.environment?.hostname,
        rate: rateOf(a),
        start_late_ms: a.report.agent?.start_late_ms,
        clock: a.report.agent?.clock,
        measure_start_unix_ms: a.summary.measure_start_unix_ms,
        shift_s: al.shift[i],
        duration_s: a.summary.duration_s,
        sent: a.summary.sent,
        ok: a.summary.ok,
        errors: a.summary.errors,
        throughput_rps: a.summary.throughput_rps,
        p50_ms: l.percentiles_ms.p50,
        p99_ms: l.percentiles_ms.p99,
        'p99.9_ms': l.percentiles_ms['p99.9'],
      };
    }),
    common_window_s: windowS,
    common_window: { first_s: from, seconds: windowS },
    aligned_on: al.alignedOn,
    start_spread_ms: al.startSpreadMs,
    alignment_ms: al.alignmentMs,
    clock_skew: al.clockSkew,
    ...(totalRate > 0 ? { total_rate: totalRate } : {}),
  };
  return rep;
}

/** The merged run in lines: one row per agent, then the total over the common window. */
export function mergeText(rep: RunReport): string {
  const m = rep.merge;
  if (!m) throw new Error('not a merged run');
  const s = rep.summary as unknown as LoadSummary;
  const f = (x: unknown, d = 3): string => (isNum(x) ? x.toFixed(d) : '–');
  const lines = [`agent   rate/s     sent       ok   errors    req/s   p50 ms   p99 ms  p99.9 ms  late ms  file`];
  for (const a of m.agents) {
    lines.push(`${String(a.index ?? '–').padStart(5)} ${f(a.rate, 1).padStart(8)} ${String(a.sent).padStart(8)} ${String(a.ok).padStart(8)} ${String(a.errors).padStart(8)} ${f(a.throughput_rps, 1).padStart(8)} ${f(a.p50_ms).padStart(8)} ${f(a.p99_ms).padStart(8)} ${f(a['p99.9_ms']).padStart(9)} ${f(a.start_late_ms, 1).padStart(8)}  ${String(a.file)}`);
  }
  const p = s.latency.percentiles_ms;
  lines.push(`${'total'.padStart(5)} ${f(m.total_rate, 1).padStart(8)} ${String(s.sent).padStart(8)} ${String(s.ok).padStart(8)} ${String(s.errors).padStart(8)} ${f(s.throughput_rps, 1).padStart(8)} ${f(p.p50).padStart(8)} ${f(p.p99).padStart(8)} ${f(p['p99.9']).padStart(9)}`);
  lines.push(`req/s of the total: over the ${m.common_window_s} s every agent was measuring; percentiles: all ${s.latency.count} samples pooled (exact)`);
  lines.push(`agents started within ${m.start_spread_ms.toFixed(1)} ms; ${m.clock_skew.text}`);
  return lines.join('\n');
}
