import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { runLoad } from '../src/measure/load-phase';
import { constantPacer } from '../src/measure/pacer';
import { fillLoadReport } from '../src/measure/load-report';
import { environment, FORMAT_VERSION, newReport, readReport, writeReport } from '../src/measure/report-json';
import { writeHtmlReport } from '../src/measure/report-html';

// Runs are produced by the real load runner over a timer-driven call (no server needed to test rendering).
async function run(mode: 'closed' | 'open', file: string): Promise<string> {
  const r = await runLoad({
    mode,
    concurrency: 2,
    pacer: () => constantPacer(400),
    durationS: 1.2,
    issue: (slot, seq, done) => setTimeout(() => done({ slot, code: seq % 50 === 49 ? 8 : 0, bytesUp: 1000, bytesDown: 200, images: 1, serverTiming: undefined, details: 'queue full', replica: undefined }), 1 + (seq % 3)),
  });
  const rep = newReport('bench', { mode, concurrency: 2 }, environment('in-test'), new Date());
  fillLoadReport(rep, r, { budgetMs: 2, fps: 100 });
  writeReport(file, rep);
  return file;
}

describe('report: HTML and PNG from --json runs', function () {
  this.timeout(60000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtinfer-report-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a self-contained report.html and decodable PNG charts, comparing two runs', async () => {
    const a = await run('closed', path.join(dir, 'a.json'));
    const b = await run('open', path.join(dir, 'b.json'));
    const rep = readReport(a);
    expect(rep.format_version).to.equal(FORMAT_VERSION);
    // Every 50th call fails (RESOURCE_EXHAUSTED) and a 1.2 s run makes well over 50, so errors fail the verdict.
    expect(rep.verdict?.status).to.equal('FAIL');
    expect(rep.verdict?.reasons.join('; ')).to.match(/\b\d+ of \d+ failed\b/);
    const out = await writeHtmlReport([a, b].map((file) => ({ file, report: readReport(file) })), path.join(dir, 'out'));
    const html = fs.readFileSync(out.html, 'utf8');
    expect(html).to.match(/<svg/);
    expect(html).to.not.match(/<script|src="http/); // self-contained: no scripts, no remote resources
    expect(html).to.include('latency p99 (ms)');
    expect(html).to.include('RESOURCE_EXHAUSTED');
    const ids = out.pngs.map((p) => path.basename(p));
    expect(ids).to.include.members(['latency-cdf.png', 'latency-histogram.png', 'latency-over-time.png', 'throughput-over-time.png', 'comparison.png']);
    for (const p of out.pngs) {
      const meta = await sharp(p).metadata();
      expect(meta.format).to.equal('png');
      expect(meta.width).to.be.within(600, 3000);
      expect(meta.height).to.be.within(300, 3000);
      expect(fs.statSync(p).size).to.be.greaterThan(10_000);
      const { channels } = await sharp(p).stats();
      // a chart, not a blank canvas: some channel varies
      expect(channels.some((c) => c.stdev > 5)).to.equal(true);
    }
  });

  it('refuses a file that is not an rtinfer run', () => {
    const f = path.join(dir, 'x.json');
    fs.writeFileSync(f, '{"hello":1}');
    expect(() => readReport(f)).to.throw(/not an rtinfer --json run/);
  });
});
