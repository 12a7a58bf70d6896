/**
 * The local rehearsal of the distributed load Job (`npm run load:local`, scripts/load-local.js): 4 agent
 * processes started as the Job starts them (its command, environment and --start-at), merged, against a
 * single process offering the same total rate to the same real server (a child process). The merged
 * throughput must match the single process's within 10 %, both error-free. Real-clock figures, so this is
 * a fidelity check, not part of `npm test`.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MOBILENET_JSON, sharedFixture } from '../helpers/fixtures';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import type { AgentInfo, LoadSummary, RunReport } from '../../src/measure/report-json';

const PROJECT = path.resolve(__dirname, '..', '..', '..');
const TOTAL_RATE = 80;
const AGENTS = 4;

describe('load:local: 4 agents merged vs one process at the same total rate', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let dir: string;

  before(async function () {
    const model = sharedFixture(this, MOBILENET_JSON);
    server = await startServerProcess(['--model', model, '--normalize', 'signed']);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'load-local-'));
  });
  after(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`merged throughput within 10 % of a single process at ${TOTAL_RATE} req/s`, () => {
    const r = spawnSync(process.execPath, [path.join(PROJECT, 'scripts', 'load-local.js'), '--agents', String(AGENTS), '--target', `127.0.0.1:${server.port}`, '--rate', String(TOTAL_RATE), '--duration', '15', '--warmup', '2', '--connections', '1', '--out', dir, '--compare'], { cwd: PROJECT, encoding: 'utf8', timeout: 240_000 });
    console.log(r.stdout.split('\n').filter((l) => /^(run|\d+ agents|1 process|throughput ratio|total|agents started)/.test(l)).map((l) => `      ${l}`).join('\n'));
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    const merged = JSON.parse(fs.readFileSync(path.join(dir, 'merged.json'), 'utf8')) as RunReport;
    const single = JSON.parse(fs.readFileSync(path.join(dir, 'single.json'), 'utf8')) as RunReport;
    const m = merged.summary as unknown as LoadSummary;
    const s = single.summary as unknown as LoadSummary;
    const agents = merged.merge!.agents;
    expect(agents).to.have.length(AGENTS);
    expect(merged.merge!.total_rate).to.equal(TOTAL_RATE);
    for (let i = 0; i < AGENTS; i++) {
      const a = JSON.parse(fs.readFileSync(path.join(dir, 'agents', `agent-${i}.json`), 'utf8')) as RunReport;
      expect((a.agent as AgentInfo).start_late_ms, `agent ${i} start`).to.be.at.least(0);
    }
    expect(m.errors + s.errors).to.equal(0);
    expect(Math.abs(m.throughput_rps / s.throughput_rps - 1)).to.be.at.most(0.1);
  });
});
