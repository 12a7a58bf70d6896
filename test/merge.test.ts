/**
 * `rtinfer report --merge` is exact: three real bench runs against the real MobileNet server, merged, give
 * the percentiles and counts of all their recorded samples pooled; the merged run is itself a valid run
 * (readable, renderable, mergeable again); a run of another format_version, a damaged histogram or the same
 * agent twice is refused with a message naming the file.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../src/client/cli';
import { decodeHdr } from '../src/measure/hdr-codec';
import { REPORTED_PERCENTILES, percentileKey } from '../src/measure/histogram';
import { mergeRuns } from '../src/measure/report-merge';
import { FORMAT_VERSION, LoadSummary, readReport, RunReport } from '../src/measure/report-json';
import type { CallOutcome } from '../src/measure/call';
import { fillLoadReport } from '../src/measure/load-report';
import { createRecorder } from '../src/measure/recorder';
import type { ReplicaSummary } from '../src/measure/replicas';
import { environment, newReport, toJson } from '../src/measure/report-json';
import { mobilenetServer } from './helpers/mobilenet-server';
import { suiteTempDir } from './helpers/temp-dir';

function io(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

/**
 * The recorded samples of a run, one entry per sample: each bucket of its histogram (decoded here bucket
 * by bucket, not through the merge) repeated by its count, at the bucket's highest equivalent value.
 */
function samplesOf(hdr: string): number[] {
  const h = decodeHdr(hdr, 'sample source').hdr as unknown as { recordedValuesIterator: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAddedInThisIterationStep: number } } };
  const out: number[] = [];
  const it = h.recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    for (let i = 0; i < v.countAddedInThisIterationStep; i++) out.push(v.valueIteratedTo);
  }
  return out;
}

/**
 * Nearest-rank percentile of sorted µs samples (histogram.ts's definition): the sample of rank
 * max(1, ⌈p/100 · n⌉), in integer arithmetic (p in tenths), clamped to the exact maximum.
 */
function pooledPercentileMs(sorted: number[], p: number, exactMaxUs: number): number {
  const tenths = Math.round(p * 10);
  const rank = Math.max(1, Math.floor((tenths * sorted.length + 999) / 1000));
  return Math.min(exactMaxUs, sorted[rank - 1]) / 1000;
}

describe('report --merge (three real bench runs)', function () {
  this.timeout(180_000);
  const s = mobilenetServer({});
  const tmp = suiteTempDir('merge-');
  const files: string[] = [];

  before(async function () {
    // Three agents' runs: two open-loop (as the Job runs them, with their share of a total rate) and one
    // more, one after another so each has the server to itself; what matters here is the arithmetic.
    for (let i = 0; i < 3; i++) {
      const file = path.join(tmp.path, `agent-${i}.json`);
      const c = io();
      const code = await main(['bench', '-t', s.target, '--rate', '90', '--agents', '3', '--agent-index', String(i), '--duration', '2', '--warmup', '0.3', '--json', file], c.io);
      expect(code, c.err.join('\n')).to.equal(0);
      files.push(file);
    }
  });

  it('merged p50/p99/p99.9 and counts equal those of the pooled recorded samples', () => {
    const runs = files.map((file) => ({ file, report: readReport(file) }));
    const merged = mergeRuns(runs);
    const ms = merged.summary as unknown as LoadSummary;
    const sums = (k: 'sent' | 'ok' | 'errors' | 'completed'): number => runs.reduce((n, r) => n + (r.report.summary as unknown as LoadSummary)[k], 0);
    expect(ms.sent).to.equal(sums('sent'));
    expect(ms.ok).to.equal(sums('ok'));
    expect(ms.completed).to.equal(sums('completed'));
    expect(ms.errors).to.equal(sums('errors'));
    expect(ms.ok).to.be.greaterThan(100);

    // Each agent's own figures (computed from its raw samples while it ran) follow from its histogram alone.
    for (const r of runs) {
      const l = (r.report.summary as unknown as LoadSummary).latency;
      const own = samplesOf(l.hdr).sort((a, b) => a - b);
      for (const p of REPORTED_PERCENTILES) expect(l.percentiles_ms[percentileKey(p)], `${r.file} p${p}`).to.equal(pooledPercentileMs(own, p, Math.round(l.max_ms * 1000)));
    }
    const pooled = runs.flatMap((r) => samplesOf((r.report.summary as unknown as LoadSummary).latency.hdr)).sort((a, b) => a - b);
    const exactMaxUs = Math.max(...runs.map((r) => Math.round((r.report.summary as unknown as LoadSummary).latency.max_ms * 1000)));
    expect(ms.latency.count).to.equal(pooled.length);
    expect(ms.latency.count).to.equal(ms.ok);
    for (const p of REPORTED_PERCENTILES) expect(ms.latency.percentiles_ms[percentileKey(p)], `p${p}`).to.equal(pooledPercentileMs(pooled, p, exactMaxUs));
    expect(ms.latency.max_ms).to.equal(exactMaxUs / 1000);
    expect(ms.latency.min_ms).to.equal(Math.min(...runs.map((r) => (r.report.summary as unknown as LoadSummary).latency.min_ms)));
    // The series adds up too: every OK response lands in exactly one merged second.
    expect(merged.series.reduce((n, p) => n + p.ok, 0)).to.equal(ms.ok);
    expect(merged.histogram.hdr).to.equal(ms.latency.hdr);
    // Each agent keeps its row.
    const rows = merged.merge!.agents;
    expect(rows.map((r) => [r.file, r.index, r.ok])).to.deep.equal(runs.map((r, i) => [r.file, i, (r.report.summary as unknown as LoadSummary).ok]));
    expect(rows.reduce((n, r) => n + (r.rate ?? 0), 0)).to.equal(90);
  });

  it('the merged --json is a valid run: read back, rendered, and merged again to the same figures', async () => {
    const out = path.join(tmp.path, 'merged');
    const json = path.join(tmp.path, 'merged.json');
    const c = io();
    expect(await main(['report', '--merge', ...files, '--out', out, '--json', json], c.io), c.err.join('\n')).to.equal(0);
    expect(c.out.join('\n')).to.match(/^total\s/m);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).to.include('<h2>Agents</h2>');
    for (const f of files) expect(html).to.include(f);
    const merged = readReport(json);
    expect(merged.format_version).to.equal(FORMAT_VERSION);
    expect(merged.verb).to.equal('bench');
    const again = mergeRuns([{ file: json, report: merged }]);
    expect((again.summary as unknown as LoadSummary).latency.percentiles_ms).to.deep.equal((merged.summary as unknown as LoadSummary).latency.percentiles_ms);
    expect((again.summary as unknown as LoadSummary).ok).to.equal((merged.summary as unknown as LoadSummary).ok);
    const r = io();
    expect(await main(['report', json, '--out', path.join(tmp.path, 'rendered')], r.io), r.err.join('\n')).to.equal(0);
  });

  it('refuses a run of another format_version, naming the file and both versions', () => {
    const bad = path.join(tmp.path, 'old.json');
    const rep = JSON.parse(fs.readFileSync(files[0], 'utf8')) as RunReport;
    rep.format_version = FORMAT_VERSION - 1;
    fs.writeFileSync(bad, JSON.stringify(rep));
    const runs = [bad, files[1]].map((file) => ({ file, report: readReport(file) }));
    expect(() => mergeRuns(runs)).to.throw(new RegExp(`old\\.json has format_version ${FORMAT_VERSION - 1}; this rtinfer merges only format_version ${FORMAT_VERSION} runs`));
  });

  it('refuses the same agent twice, a histogram whose count disagrees, and a non-load run; the CLI says so and exits 1', async () => {
    const twice = [files[0], files[0]].map((file) => ({ file, report: readReport(file) }));
    expect(() => mergeRuns(twice)).to.throw(/agent 0 appears twice/);

    const rep = JSON.parse(fs.readFileSync(files[1], 'utf8')) as RunReport;
    (rep.summary as { latency: { count: number } }).latency.count += 1;
    expect(() => mergeRuns([{ file: 'tampered.json', report: rep }])).to.throw(/tampered\.json: summary\.latency: its histogram holds \d+ samples but its count says \d+/);

    const ping = JSON.parse(fs.readFileSync(files[2], 'utf8')) as RunReport;
    ping.verb = 'ping';
    expect(() => mergeRuns([{ file: 'ping.json', report: ping }])).to.throw(/ping\.json is a ping run; --merge takes bench and stream runs/);

    const str = JSON.parse(fs.readFileSync(files[1], 'utf8')) as RunReport;
    (str.series[0] as unknown as { ok: string }).ok = '12';
    expect(() => mergeRuns([{ file: 'strings.json', report: str }])).to.throw(/strings\.json: series second 0: ok is not a number ≥ 0/);

    const apart = JSON.parse(fs.readFileSync(files[1], 'utf8')) as RunReport;
    (apart.summary as { measure_start_unix_ms: number }).measure_start_unix_ms += 2 * 3600e3;
    expect(() => mergeRuns([{ file: files[0], report: readReport(files[0]) }, { file: 'later.json', report: apart }])).to.throw(/began 2\.0 h apart .*later\.json last\): not one distributed run/);

    const notJson = path.join(tmp.path, 'truncated.json');
    fs.writeFileSync(notJson, fs.readFileSync(files[0], 'utf8').slice(0, 100));
    expect(() => readReport(notJson)).to.throw(/truncated\.json: /);

    const bad = path.join(tmp.path, 'bad.json');
    const old = JSON.parse(fs.readFileSync(files[0], 'utf8')) as RunReport;
    delete (old.summary as { latency: { hdr?: string } }).latency.hdr;
    fs.writeFileSync(bad, JSON.stringify(old));
    const c = io();
    expect(await main(['report', '--merge', bad, files[1], '--out', path.join(tmp.path, 'x')], c.io)).to.equal(1);
    expect(c.err.join('\n')).to.match(/bad\.json: summary\.latency: no HdrHistogram/);
  });
});

describe('report --merge: exact against raw samples (recorded through the real recorder, no clock)', () => {
  const ok: CallOutcome = { slot: 0, code: 0, bytesUp: 1000, bytesDown: 100, images: 1, serverTiming: undefined, details: undefined, replica: undefined };

  /** Agent i's run: `latenciesUs` recorded one after another, each ending 10 ms after the previous began. */
  function agentRun(i: number, latenciesUs: number[]): RunReport {
    const rec = createRecorder(1, true);
    let t = 0;
    for (const us of latenciesUs) {
      rec.sent(0, t, t, false);
      rec.ended(ok, t + us * 1000);
      t += 10e6;
    }
    const rep = newReport('bench', {}, environment('fake'), new Date(0));
    fillLoadReport(rep, { ...rec.result(), mode: 'closed', unfinished: 0, elapsedNs: rec.lastEndNs(), startUnixMs: 1.7e12, clientBusy: 0, endReason: 'duration', warmupRequests: 0 }, {});
    rep.agent = { index: i, count: 3 };
    return JSON.parse(toJson(rep)) as RunReport; // as read back from its file
  }

  function latencies(seed: number, n: number, maxUs: number): number[] {
    let x = seed;
    return Array.from({ length: n }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return 100 + (x % (maxUs - 100));
    });
  }

  it('below 2.048 ms (1-µs buckets) the merged percentiles are those of the raw pooled samples, exactly', () => {
    const raw = [latencies(1, 700, 2047), latencies(2, 1300, 2047), latencies(3, 333, 2047)];
    const merged = mergeRuns(raw.map((l, i) => ({ file: `agent-${i}.json`, report: agentRun(i, l) })));
    const pooled = raw.flat().sort((a, b) => a - b);
    const m = (merged.summary as unknown as LoadSummary).latency;
    expect(m.count).to.equal(pooled.length);
    for (const p of REPORTED_PERCENTILES) expect(m.percentiles_ms[percentileKey(p)], `p${p}`).to.equal(pooledPercentileMs(pooled, p, pooled[pooled.length - 1]));
    expect([m.min_ms, m.max_ms]).to.deep.equal([pooled[0] / 1000, pooled[pooled.length - 1] / 1000]);
  });

  it('above it, within the stated resolution (1/1024 of the value), and never beyond the true max', () => {
    const raw = [latencies(4, 900, 250_000), latencies(5, 400, 90_000), latencies(6, 1200, 40_000)];
    const merged = mergeRuns(raw.map((l, i) => ({ file: `agent-${i}.json`, report: agentRun(i, l) })));
    const pooled = raw.flat().sort((a, b) => a - b);
    const m = (merged.summary as unknown as LoadSummary).latency;
    for (const p of REPORTED_PERCENTILES) {
      const exact = pooledPercentileMs(pooled, p, pooled[pooled.length - 1]);
      const got = m.percentiles_ms[percentileKey(p)];
      expect(got, `p${p}`).to.be.at.least(exact);
      expect(got - exact, `p${p}`).to.be.at.most(exact / 1024);
    }
    expect(m.max_ms).to.equal(pooled[pooled.length - 1] / 1000);
  });

  it('per-replica figures add up by server_id: counts, shares, and each replica\'s percentiles those of its pooled samples', () => {
    // Agent i's calls alternate between replicas a and b; b is slower, and agent 2 never reached a.
    const runs = [0, 1, 2].map((i) => {
      const rec = createRecorder(1, true);
      let t = 0;
      const lat = latencies(10 + i, 400, 1500);
      lat.forEach((us, k) => {
        const replica = i === 2 || k % 2 === 1 ? 'b' : 'a';
        rec.sent(0, t, t, false);
        rec.ended({ ...ok, replica }, t + (replica === 'b' ? us + 400 : us) * 1000);
        t += 10e6;
      });
      const rep = newReport('bench', {}, environment('fake'), new Date(0));
      fillLoadReport(rep, { ...rec.result(), mode: 'closed', unfinished: 0, elapsedNs: rec.lastEndNs(), startUnixMs: 1.7e12, clientBusy: 0, endReason: 'duration', warmupRequests: 0 }, {});
      rep.agent = { index: i, count: 3 };
      return { lat, report: JSON.parse(toJson(rep)) as RunReport };
    });
    const merged = mergeRuns(runs.map((r, i) => ({ file: `agent-${i}.json`, report: r.report })));
    const reps = (merged.summary as unknown as { replicas: ReplicaSummary[] }).replicas;
    expect(reps.map((r) => r.server_id)).to.deep.equal(['a', 'b']);
    const pooled: Record<string, number[]> = { a: [], b: [] };
    runs.forEach((r, i) => r.lat.forEach((us, k) => (i === 2 || k % 2 === 1 ? pooled.b.push(us + 400) : pooled.a.push(us))));
    for (const r of reps) {
      const samples = pooled[r.server_id].sort((x, y) => x - y);
      expect(r.ok, r.server_id).to.equal(samples.length);
      expect(r.share, r.server_id).to.be.closeTo(samples.length / 1200, 1e-12);
      for (const p of REPORTED_PERCENTILES) expect(r.latency.percentiles_ms[percentileKey(p)], `${r.server_id} p${p}`).to.equal(pooledPercentileMs(samples, p, samples[samples.length - 1]));
    }
    expect(merged.warnings ?? []).to.not.match(/per-replica|per-hop/);
  });

  it('says what it could not merge: replicas from an older file without histograms, and the per-hop decomposition', () => {
    const rec = createRecorder(1, true);
    for (const [k, replica] of ['a', 'b', 'a'].entries()) {
      rec.sent(0, k * 10e6, k * 10e6, false);
      rec.ended({ ...ok, replica }, k * 10e6 + 500_000);
    }
    const rep = newReport('bench', {}, environment('fake'), new Date(0));
    fillLoadReport(rep, { ...rec.result(), mode: 'closed', unfinished: 0, elapsedNs: rec.lastEndNs(), startUnixMs: 1.7e12, clientBusy: 0, endReason: 'duration', warmupRequests: 0 }, {});
    const fresh = JSON.parse(toJson(rep)) as RunReport;
    const old = JSON.parse(toJson(rep)) as RunReport;
    for (const r of (old.summary as unknown as { replicas: ReplicaSummary[] }).replicas) delete r.latency.hdr;
    (old.summary as unknown as { path: unknown }).path = { calls: 3 };
    const merged = mergeRuns([{ file: 'new.json', report: fresh }, { file: 'old.json', report: old }]);
    expect((merged.summary as unknown as { replicas?: unknown }).replicas).to.equal(undefined);
    const w = (merged.warnings ?? []).join('\n');
    expect(w).to.match(/old\.json has per-replica figures without their histograms .* so the merged run has none/);
    expect(w).to.match(/the per-hop decomposition \(path\) of 1 agent run\(s\) is not merged/);
  });
});
