/**
 * Distributed agents (src/client/agent.ts, src/measure/agent-share.ts): shares of a total rate add up
 * exactly, identity comes from the Job's environment, bad input is a usage error, and --start-at holds a
 * run until the instant (a start already past is reported, not hidden) against a real server.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseStartAt, planAgent } from '../src/client/agent';
import { main } from '../src/client/cli';
import { RATE_UNITS_PER_REQ, shareOf } from '../src/measure/agent-share';
import type { AgentInfo, LoadSummary, RunReport } from '../src/measure/report-json';
import { UsageError } from '../src/shared/flag-checks';
import { mobilenetServer } from './helpers/mobilenet-server';
import { suiteTempDir } from './helpers/temp-dir';

function io(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('agent shares of a total rate', () => {
  it('add up to the total exactly and differ by at most one unit (0.001/s)', () => {
    for (const total of [1, 7, 10, 33.333, 200, 1234.5678, 0.01]) {
      for (let n = 1; n <= 9; n++) {
        if (Math.round(total * RATE_UNITS_PER_REQ) < n) continue;
        const shares = Array.from({ length: n }, (_, i) => shareOf(total, n, i));
        expect(shares.reduce((s, x) => s + x.units, 0), `${total} over ${n}`).to.equal(Math.round(total * RATE_UNITS_PER_REQ));
        const units = shares.map((x) => x.units);
        expect(Math.max(...units) - Math.min(...units)).to.be.at.most(1);
        for (const x of shares) expect(x.rate).to.equal(x.units / RATE_UNITS_PER_REQ);
      }
    }
    expect(shareOf(10, 4, 0).rate).to.equal(2.5);
    expect([0, 1, 2].map((i) => shareOf(0.01, 3, i).units)).to.deep.equal([4, 3, 3]);
  });

  it('refuses a total too small to split, and bad counts or indexes', () => {
    expect(() => shareOf(0.002, 4, 0)).to.throw(/cannot be split across 4 agents/);
    expect(() => shareOf(10, 0, 0)).to.throw(/integer ≥ 1/);
    expect(() => shareOf(10, 4, 4)).to.throw(/\[0, 4\)/);
    expect(() => shareOf(Number.NaN, 4, 0)).to.throw(/> 0/);
  });
});

describe('agent plan', () => {
  it('reads JOB_COMPLETION_INDEX and RTINFER_AGENTS when no flag is given; flags win', () => {
    const env = { JOB_COMPLETION_INDEX: '2', RTINFER_AGENTS: '4' };
    expect(planAgent({ rate: 10 }, env)).to.include({ index: 2, count: 4, rate: 2.5, totalRate: 10 });
    expect(planAgent({ rate: 10, agents: 2, agentIndex: 1 }, env)).to.include({ index: 1, count: 2, rate: 5 });
    expect(planAgent({ ratePerAgent: 7 }, env)).to.include({ rate: 7, totalRate: 28 });
    expect(planAgent({}, {})).to.include({ index: 0, count: 1, rate: undefined });
  });

  it('says what is wrong with bad input', () => {
    expect(() => planAgent({}, { JOB_COMPLETION_INDEX: 'two' })).to.throw(UsageError, /\$JOB_COMPLETION_INDEX must be an integer/);
    expect(() => planAgent({}, { JOB_COMPLETION_INDEX: '4', RTINFER_AGENTS: '4' })).to.throw(UsageError, /must be in \[0, 4\)/);
    expect(() => planAgent({ rate: 1, ratePerAgent: 1 }, {})).to.throw(UsageError, /not both/);
    expect(() => planAgent({ rate: 0.002, agents: 4 }, {})).to.throw(UsageError, /--rate: .*cannot be split/);
    expect(() => parseStartAt('2030-01-01 12:00')).to.throw(UsageError, /ISO 8601 time with a zone/);
    expect(parseStartAt('2030-01-01T12:00:00.250+01:00')).to.equal(Date.UTC(2030, 0, 1, 11, 0, 0, 250));
  });

  it('the CLI exits 2 with the reason', async () => {
    for (const [args, re] of [
      [['bench', '--rate', '0.002', '--agents', '4'], /cannot be split across 4 agents/],
      [['bench', '--rate', '5', '--start-at', 'tomorrow'], /--start-at must be an ISO 8601 time/],
      [['bench', '--rate', '5', '--rate-per-agent', '5'], /not both/],
      [['bench', '--agents', '2', '--agent-index', '2'], /must be in \[0, 2\)/],
    ] as Array<[string[], RegExp]>) {
      const c = io();
      expect(await main([...args, '-t', '127.0.0.1:1'], c.io), args.join(' ')).to.equal(2);
      expect(c.err.join('\n')).to.match(re);
    }
  });
});

describe('--start-at against a real server', function () {
  this.timeout(120_000);
  const s = mobilenetServer({});
  const tmp = suiteTempDir('agent-');

  async function run(startAt: string, index: number): Promise<RunReport> {
    const file = path.join(tmp.path, `a${index}.json`);
    const c = io();
    const code = await main(['bench', '-t', s.target, '--rpc', 'ping', '--rate', '100', '--agents', '2', '--agent-index', String(index), '--duration', '1', '--warmup', '0', '--start-at', startAt, '--json', file], c.io);
    expect(code, c.err.join('\n')).to.equal(0);
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunReport;
  }

  it('waits for the instant, measures the clock against the server, and reports its share', async () => {
    const startAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
    const rep = await run(startAt.toISOString(), 1);
    const a = rep.agent as AgentInfo;
    expect(a).to.include({ index: 1, count: 2, rate: 50, total_rate: 100, start_at: startAt.toISOString() });
    expect(a.start_late_ms).to.be.at.least(0);
    expect(a.clock?.probes).to.be.greaterThan(0);
    expect(a.clock?.error_bound_ms).to.be.at.least(0);
    // The measurement began no earlier than the instant (wall clock, µs precision).
    expect((rep.summary as unknown as LoadSummary).measure_start_unix_ms).to.be.at.least(startAt.getTime());
  });

  it('refuses a start more than a day away (exit 2)', async () => {
    const c = io();
    expect(await main(['bench', '-t', s.target, '--rpc', 'ping', '--rate', '10', '--duration', '1', '--start-at', '2099-01-01T00:00:00Z'], c.io)).to.equal(2);
    expect(c.err.join('\n')).to.match(/--start-at 2099-01-01T00:00:00Z is more than 24 h away/);
  });

  it('a start already past runs at once and is reported as late, with a warning', async () => {
    const rep = await run('2000-01-01T00:00:00Z', 0);
    const a = rep.agent as AgentInfo;
    expect(a.start_late_ms).to.be.greaterThan(365 * 24 * 3600 * 1000);
    expect(rep.warnings.join('\n')).to.match(/agent 0 started \d+ ms after --start-at 2000-01-01T00:00:00Z/);
  });
});
