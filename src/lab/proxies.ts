/**
 * The impairment proxies (impair-proxy.ts) on the edge↔server path: one per server on the edge's loopback,
 * forwarding into the tunnel. Their impairment lives in one file they re-read on SIGHUP, so `up` with a new
 * --delay-ms/--jitter-ms changes a running lab without dropping a connection or restarting anything.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DirectionImpairment } from './impair-proxy';
import { signal, startIn, waitForLine, isAlive, type LabProcess } from './processes';
import { PROXY_PORTS, SERVERS, SERVER_GRPC_PORT, TUNNEL, type ServerName } from './topology';

export const PROXY_CLI = path.join(__dirname, 'impair-proxy-cli.js');

export function impairmentFile(dir: string): string {
  return path.join(dir, 'impairment.json');
}

/** Both directions alike: --delay-ms 5 adds 5 ms each way, 10 ms to a round trip. */
export function writeImpairment(dir: string, delayMs: number | undefined, jitterMs: number | undefined): void {
  const d: DirectionImpairment = { delayMs: delayMs ?? 0, jitterMs: jitterMs ?? 0 };
  fs.writeFileSync(impairmentFile(dir), JSON.stringify(d));
}

export async function startProxies(dir: string, onProcess: (p: LabProcess) => void): Promise<void> {
  for (const s of SERVERS) {
    const p = startIn('edge', `impair-proxy@${s}`, proxyCommand(dir, s), path.join(dir, `impair-proxy-${s}.log`));
    onProcess(p);
    await waitForLine(p.log, /listening on/, 30_000, () => isAlive(p), p.role);
  }
}

function proxyCommand(dir: string, s: ServerName): string[] {
  return [process.execPath, PROXY_CLI, '--port', String(PROXY_PORTS[s]), '--target', `${TUNNEL[s].ipv4}:${SERVER_GRPC_PORT}`, '--config', impairmentFile(dir)];
}

const reconfigurations = (p: LabProcess): number => (fs.readFileSync(p.log, 'utf8').match(/reconfigured/g) ?? []).length;

/** SIGHUP each proxy and wait until each has logged that it applied the file. */
export async function reloadProxies(procs: LabProcess[]): Promise<void> {
  for (const p of procs) {
    const before = reconfigurations(p);
    signal(p, 'SIGHUP');
    const until = Date.now() + 10_000;
    while (reconfigurations(p) === before) {
      if (!isAlive(p) || Date.now() > until) throw new Error(`${p.role} did not apply the new impairment; see ${p.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
