/**
 * Where the time goes, through the lab's edge (Cloud mode on one machine: src/lab). Assertions a loaded
 * machine cannot break: the edge is detected from its header on every reply, the hops are there, the
 * connection set-up has its TLS step, and killing the edge mid-run turns into losses that never reached a
 * server (upstream), not downstream ones. The tight figures (delay and bottleneck moving the right hop) are
 * test/fidelity/hops-lab.fidelity.ts. Skipped with the reason when not root or a package is missing; under
 * CI=true that fails instead (test/helpers/lab.ts).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { expect } from 'chai';
import type { PingSummary } from '../src/measure/ping-summary';
import type { PathSummary } from '../src/measure/path';
import { edgeFlags, lab, LAB_CLI, ROOT, rtinferInClient, sharedLab } from './helpers/lab';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('hops through the lab: client → edge (HAProxy) → tunnel → two servers', function () {
  this.timeout(240_000);
  const shared = sharedLab();

  it('ping: the edge is detected on every reply, the waterfall names client→edge and edge→server, the set-up has TLS', async () => {
    const r = await rtinferInClient(['ping', ...edgeFlags(shared.st), '-c', '30', '-i', '20', '-q', '--json', '-']);
    expect(r.code, r.stderr).to.equal(0);
    const s = (JSON.parse(r.stdout) as { summary: PingSummary }).summary;
    const p = s.path!;
    expect(p).to.include({ edge_detected: true, pings_via: 'same-connection' });
    expect(p.edge_header).to.deep.equal({ present: s.received, absent: 0, garbage: 0 });
    expect(p.edge_upstream_ms!.count).to.equal(s.received);
    expect(p.client_edge_rtt_ms!.count).to.equal(s.received);
    expect(r.stderr).to.match(/^path p50: client→edge [\d.]+ \| edge→server [\d.]+ \| server [\d.]+ \| other [\d.]+ ms$/m);
    expect(s.connections![0].tls_ms).to.be.a('number');
    expect(s.connections![0].settings_ms).to.be.at.least(s.connections![0].tls_ms!);
  });

  it('bench classify: the waterfall through the edge, server stages and each replica that answered', async () => {
    const r = await rtinferInClient(['bench', ...edgeFlags(shared.st), '--rpc', 'classify', '-C', '4', '--requests', '40', '--warmup', '0', '--json', '-']);
    expect(r.code, r.stderr).to.equal(0);
    const s = (JSON.parse(r.stdout) as { summary: { ok: number; path: PathSummary } }).summary;
    expect(s.path).to.include({ edge_detected: true, pings_via: 'same-connection', calls: s.ok });
    expect(s.path.server_stages_ms!.inference.count).to.equal(s.ok);
    expect(s.path.edge_server_network_ms!.count).to.equal(s.ok);
    // leastconn over two servers: both answer some of 40 calls 4 at a time, so each has its own line.
    expect(s.path.replicas?.map((x) => x.server_id).sort()).to.have.length(2);
    expect(r.stderr).to.match(/^path replica \S+: \d+ calls, server p50 /m);
  });

  it('killing the edge mid-run: the probes sent while it is gone are lost upstream (they never reached a server)', async () => {
    // 100 probes 40 ms apart (4 s); the edge is killed after 1.5 s and stays down (the lab's `up` would
    // rebuild every host, ending this client too). Probes in flight at the kill may have reached a server;
    // those after it cannot even connect.
    const probes = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [LAB_CLI, 'exec', 'client', '--', process.execPath, path.join(ROOT, 'bin', 'rtinfer.js'), 'ping', ...edgeFlags(shared.st), '-c', '100', '-i', '40', '--deadline-ms', '1000', '-q', '--json', '-'], { cwd: ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
    await sleep(1500);
    const edge = shared.st.processes.find((p) => p.role.startsWith('edge'))!;
    process.kill(edge.pid, 'SIGKILL');
    const r = await probes;
    const s = (JSON.parse(r.stdout) as { summary: PingSummary }).summary;
    console.log(`      ${s.received} received, ${s.lost} lost: ${s.loss.upstream} upstream, ${s.loss.downstream} downstream, ${s.loss.unknown} unknown${s.loss.unknown_reason ? ` (${s.loss.unknown_reason})` : ''}`);
    expect(s.received, r.stderr).to.be.at.least(1);
    expect(s.lost).to.be.at.least(10); // ≥ 2.5 s of probes 40 ms apart had no edge
    expect(s.loss.downstream).to.equal(0);
    expect(s.loss.upstream).to.be.at.least(s.lost - 5); // at most the few in flight at the kill are unknown
    expect(s.loss.upstream + s.loss.unknown).to.equal(s.lost);
    expect(r.stderr).to.match(/^lost by direction: \d+ upstream \(never reached the server\), 0 downstream/m);
  });
});
