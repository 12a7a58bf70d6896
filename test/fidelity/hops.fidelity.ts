/**
 * The per-hop decomposition against the real clock, direct to a server on loopback (no edge): the
 * client↔server RTT read from the HTTP/2 PINGs sent alongside the probes must agree with `ping`'s own net
 * RTT (RTT − server hold time) at p50 within 0.3 ms, and no edge may be reported. A real-clock bound, so it
 * lives here (`npm run test:fidelity`), never in `npm test`. Why the PING reads a little below the net RTT
 * (the server's gRPC layer outside the handler's stamps): docs/decisions/0021-per-hop-pings-on-the-calls-connection.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { main } from '../../src/client/cli';
import type { PingSummary } from '../../src/measure/ping-summary';
import { MOBILENET_JSON, sharedFixture } from '../helpers/fixtures';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { withTrustworthyReference } from '../helpers/fidelity-suite';

/** The bound on |PING RTT p50 − net RTT p50| on loopback. */
const BOUND_MS = 0.3;
/**
 * A quiet loopback: net RTT p50 at most this. Idle, this VM reads 0.6–0.8 ms; with other jobs on both vCPUs
 * it reads 1.2 ms and more, and the server's gRPC layer (which a PING skips: decision 0021) grows with the
 * wait for a CPU, so such a run says nothing about the client and is repeated (fidelity-suite.ts's rule).
 */
const QUIET_NET_P50_MS = 1.0;

describe('fidelity: per-hop PING RTT direct to a server on loopback', function () {
  let server: ServerProcess | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtinfer-hops-fidelity-'));

  before(async function () {
    server = await startServerProcess(['--model', sharedFixture(this, MOBILENET_JSON), '--normalize', 'signed']);
  });
  after(async () => {
    await server?.stop(5000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`edge_detected is false and the PINGs' RTT p50 is within ${BOUND_MS} ms of ping's net RTT p50`, async function () {
    const json = path.join(dir, 'ping.json');
    const s = await withTrustworthyReference(
      this,
      async () => {
        const err: string[] = [];
        // 10 ms apart: an awake path (decisions/0015), 1000 probes, the first 50 discarded.
        const code = await main(['ping', '-t', `127.0.0.1:${server!.port}`, '-c', '1000', '-i', '10', '--warmup', '50', '-q', '--json', json], { out: () => undefined, err: (l) => err.push(l) });
        expect(code, err.join('\n')).to.equal(0);
        return JSON.parse(fs.readFileSync(json, 'utf8')).summary as PingSummary;
      },
      (r) => (r.net_rtt.percentiles_ms.p50 <= QUIET_NET_P50_MS ? undefined : `net RTT p50 ${r.net_rtt.percentiles_ms.p50.toFixed(3)} ms > ${QUIET_NET_P50_MS} ms: loopback not quiet`),
    );
    const p = s.path!;
    expect(p.edge_detected).to.equal(false);
    expect(p.pings_via).to.equal('same-connection');
    const pingP50 = p.client_edge_rtt_ms!.percentiles_ms.p50;
    const netP50 = s.net_rtt.percentiles_ms.p50;
    console.log(`      PING RTT p50 ${pingP50.toFixed(3)} ms, net RTT p50 ${netP50.toFixed(3)} ms (${p.pings.answered} PINGs, ${s.received} probes)`);
    expect(Math.abs(pingP50 - netP50)).to.be.at.most(BOUND_MS);
  });
});
