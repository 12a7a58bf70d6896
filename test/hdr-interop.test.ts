/**
 * --json's `hdr` histograms are the standard HdrHistogram V2 compressed encoding: the reference
 * implementation (Java HdrHistogram, Debian's libhdrhistogram-java) reads what rtinfer writes with the same
 * buckets, counts and percentiles, and rtinfer reads what it writes. hdr-codec.ts refuses other layouts and
 * damaged input with a message.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { decodeHdr, encodeHdr } from '../src/measure/hdr-codec';
import { createLatencyHistogram, LatencyHistogram } from '../src/measure/histogram';
import { fileExists, requireTool, toolRuns } from './helpers/tools';

const PROJECT = path.resolve(__dirname, '..', '..');
const JAR = '/usr/share/java/hdrhistogram.jar';
const PROGRAM = path.join(PROJECT, 'test', 'interop', 'HdrInterop.java');

function java(args: string[], input: string): string {
  const r = spawnSync('java', ['-cp', JAR, PROGRAM, ...args], { input, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`java ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** "value:count" of every recorded bucket, by its highest equivalent value (as Java's iterator gives it). */
function buckets(h: LatencyHistogram): string[] {
  const js = h.hdr as unknown as { recordedValuesIterator: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAddedInThisIterationStep: number } } };
  const it = js.recordedValuesIterator;
  it.reset();
  const out: string[] = [];
  while (it.hasNext()) {
    const v = it.next();
    out.push(`${v.valueIteratedTo}:${v.countAddedInThisIterationStep}`);
  }
  return out;
}

/** A spread of latencies in µs: exact 1-µs buckets below 2 048 µs, wider ones above, and a far tail. */
function samples(): number[] {
  const out: number[] = [];
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(1 + (x % 40_000));
  }
  out.push(1, 2047, 2048, 2049, 123_456, 9_999_999, 3_000_000_000);
  return out;
}

describe('HdrHistogram interoperability (Java reference implementation)', function () {
  this.timeout(120_000);
  before(function () {
    requireTool(this, fileExists(JAR), `${JAR} not found (Debian package libhdrhistogram-java)`);
    requireTool(this, toolRuns('javac', ['-version']), 'javac not found (Debian package default-jdk-headless)');
  });

  it('Java decodes what rtinfer writes: same buckets, counts and percentiles', () => {
    const h = createLatencyHistogram();
    for (const us of samples()) h.recordNanos(us * 1000);
    const [count, p50, p99, p999, ...rest] = java(['decode'], encodeHdr(h) + '\n').split(' ');
    expect(Number(count)).to.equal(h.hdr.totalCount);
    expect([Number(p50), Number(p99), Number(p999)]).to.deep.equal([50, 99, 99.9].map((p) => h.hdr.getValueAtPercentile(p)));
    expect(rest).to.deep.equal(buckets(h));
  });

  it('rtinfer decodes what Java writes, with the same buckets and percentiles', () => {
    const values = samples();
    const b64 = java(['encode', '3'], values.join(' ') + '\n');
    const h = decodeHdr(b64, 'java');
    const mine = createLatencyHistogram();
    for (const us of values) mine.recordNanos(us * 1000);
    expect(h.hdr.totalCount).to.equal(values.length);
    expect(buckets(h)).to.deep.equal(buckets(mine));
    for (const p of [50, 99, 99.9]) expect(h.hdr.getValueAtPercentile(p)).to.equal(mine.hdr.getValueAtPercentile(p));
  });

  it('refuses a histogram of another layout: its buckets would not add exactly', () => {
    const b64 = java(['encode', '2'], '100 200 300\n');
    expect(() => decodeHdr(b64, 'run.json: summary.latency')).to.throw(/run\.json: summary\.latency: histogram layout .*2 significant digits.*not rtinfer's/);
  });
});

describe('hdr-codec: damaged input', () => {
  const good = (): string => {
    const h = createLatencyHistogram();
    h.recordNanos(5e6);
    return encodeHdr(h);
  };

  it('names what it was reading and why it cannot', () => {
    expect(() => decodeHdr(undefined, 'a.json: histogram')).to.throw(/a\.json: histogram: no HdrHistogram/);
    expect(() => decodeHdr('not base64!', 'x')).to.throw(/x: not base64/);
    expect(() => decodeHdr(Buffer.from('hello world').toString('base64'), 'x')).to.throw(/x: not an HdrHistogram V2 compressed encoding/);
    const raw = Buffer.from(good(), 'base64');
    expect(() => decodeHdr(raw.subarray(0, raw.length - 5).toString('base64'), 'x')).to.throw(/x: compressed length runs past the end/);
    const corrupt = Buffer.from(raw);
    corrupt.fill(0x55, 8);
    expect(() => decodeHdr(corrupt.toString('base64'), 'x')).to.throw(/x: compressed contents unreadable/);
  });

  it('round-trips our own encoding', () => {
    const h = decodeHdr(good(), 'x');
    expect(h.hdr.totalCount).to.equal(1);
    expect(h.hdr.getValueAtPercentile(50)).to.be.within(4995, 5005);
  });
});
