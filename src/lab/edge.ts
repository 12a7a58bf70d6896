/**
 * The edge process: HAProxy (the lab's edge) or Envoy (`--edge envoy`, the production edge's own config),
 * its rendered config in the lab directory, reloads in place, and HAProxy's view of its servers read from
 * its stats socket.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { LabCerts } from './certs';
import { renderEnvoyConfig } from './envoy-config';
import { renderHaproxyConfig } from './haproxy-config';
import { signal, startIn, type LabProcess } from './processes';
import type { EdgeKind } from './requirements';
import { run } from './run';

export function edgeConfigFile(dir: string, kind: EdgeKind): string {
  return path.join(dir, kind === 'haproxy' ? 'haproxy.cfg' : 'envoy.yaml');
}

export function edgeLog(dir: string): string {
  return path.join(dir, 'edge.log');
}

/** Writes the edge's config; true when it differs from what was there (the edge must reload). */
export function writeEdgeConfig(dir: string, kind: EdgeKind, certs: LabCerts, viaProxy: boolean): boolean {
  const text = kind === 'haproxy' ? renderHaproxyConfig({ dir, edgePem: certs.edgePem, jwtPublicKey: certs.jwtPublicKey, viaProxy }) : renderEnvoyConfig(certs, viaProxy);
  const file = edgeConfigFile(dir, kind);
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  fs.writeFileSync(file, text);
  if (kind === 'haproxy') run('haproxy', ['-c', '-q', '-f', file]);
  return before !== text;
}

export function startEdge(dir: string, kind: EdgeKind): LabProcess {
  const file = edgeConfigFile(dir, kind);
  // HAProxy in master-worker mode (-W), in the foreground (-db): the master keeps its PID across reloads
  // (SIGUSR2) and the workers' log goes to the master's stdout, our log file.
  const cmd = kind === 'haproxy' ? ['haproxy', '-W', '-db', '-f', file] : ['envoy', '-c', file, '--log-level', 'warn'];
  return startIn('edge', `edge (${kind})`, cmd, edgeLog(dir));
}

/** Applies a changed config: HAProxy reloads in place; Envoy (no hot-restart wrapper here) is restarted by the caller. */
export function reloadHaproxy(p: LabProcess): void {
  signal(p, 'SIGUSR2');
}

/** One command on HAProxy's admin socket (a unix socket: reachable from any namespace). */
export function haproxyCommand(dir: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path.join(dir, 'haproxy.sock'));
    let out = '';
    sock.setTimeout(5_000, () => sock.destroy(new Error(`HAProxy stats socket: no answer to '${command}' within 5 s`)));
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('data', (d: Buffer) => (out += d.toString()));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}

/** Each backend server's status as HAProxy sees it ("UP", "DOWN", "UP 1/2", …). */
export async function haproxyServerStatus(dir: string): Promise<Record<string, string>> {
  const csv = await haproxyCommand(dir, 'show stat');
  const lines = csv.split('\n').filter((l) => l.length > 0);
  const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
  const [px, sv, st] = ['pxname', 'svname', 'status'].map((k) => header.indexOf(k));
  const out: Record<string, string> = {};
  for (const l of lines) {
    const f = l.split(',');
    if (f[px] === 'inference' && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND') out[f[sv]] = f[st];
  }
  return out;
}
