/**
 * The lab's life cycle: `up` (build it, or change a running one in place), `down` (remove everything it
 * made, also after a crash) and `status`. Every step of `up` is recorded in the state file before the next
 * one starts, and `down` also sweeps every namespace carrying the lab's prefix, so nothing can be left
 * behind by a `kill -9` at any point.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { certsIn, makeLabCerts } from './certs';
import { edgeConfigFile, edgeLog, haproxyServerStatus, reloadHaproxy, startEdge, writeEdgeConfig } from './edge';
import { applyServerFirewall } from './firewall';
import { createHostsAndLinks, deleteNamespace, existingHostsDirs, existingNamespaces, pidsIn } from './netns';
import { isAlive, stopProcess, type LabProcess } from './processes';
import { reloadProxies, startProxies, writeImpairment } from './proxies';
import { startServer, waitServerReady } from './servers';
import { readState, writeState, type LabOptions, type LabState } from './state';
import { setBottleneck } from './bottleneck';
import { runIn } from './run';
import { EDGE_ADDRESS, EDGE_PORT, EDGE_SERVERNAME, HOSTS, SERVERS, SERVER_GRPC_PORT, TUNNEL, wgDev, WG_SOCKET_DIR, labDir, nsOf, stateFile, type ServerName } from './topology';
import { startTunnels } from './wireguard';

export type Say = (line: string) => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** gRPC goes through the impairment proxies only when an impairment was asked for (lab decision record). */
const viaProxy = (o: LabOptions): boolean => o.delayMs !== undefined || o.jitterMs !== undefined;

const isServer = (p: LabProcess): boolean => (SERVERS as readonly string[]).includes(p.role);

/** Namespaces and every process but the servers alive (a stopped server is restarted in place by `up`). */
function healthy(s: LabState): boolean {
  const ns = new Set(existingNamespaces());
  return s.ready && HOSTS.every((h) => ns.has(nsOf(h))) && s.processes.filter((p) => !isServer(p)).every(isAlive);
}

const byRole = (s: LabState, role: string): LabProcess | undefined => s.processes.find((p) => p.role === role);

/** Waits until HAProxy reports every server UP (Envoy: until its listener accepts). */
async function waitEdgeReady(s: LabState, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const edge = s.processes.find((p) => p.role.startsWith('edge'))!;
  let last = '';
  for (;;) {
    if (!isAlive(edge)) throw new Error(`the edge exited; see ${edge.log}:\n${tail(edge.log)}`);
    if (s.options.edge === 'haproxy') {
      try {
        const st = await haproxyServerStatus(s.dir);
        last = JSON.stringify(st);
        if (SERVERS.every((n) => st[n] === 'UP')) return;
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
    } else if (edgeAccepts()) {
      return; // Envoy: its listener is up; its own health checks gate traffic to the servers
    }
    if (Date.now() > until) throw new Error(`the edge does not see both servers UP within ${timeoutMs} ms (last: ${last}); see ${edge.log}`);
    await sleep(200);
  }
}

/** Whether the edge's public port accepts a TCP connection from the client namespace. */
function edgeAccepts(): boolean {
  const script = `require('net').connect(${EDGE_PORT}, '${EDGE_ADDRESS.ipv4}').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`;
  return runIn('client', process.execPath, ['-e', script], { allowFail: true }).status === 0;
}

function tail(file: string, n = 15): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n') : '(no log)';
}

async function startServers(s: LabState, save: () => void): Promise<void> {
  const started = SERVERS.map((n) => startServer(s.dir, n, s.options.serverArgs));
  s.processes.push(...started);
  save();
  await Promise.all(started.map((p) => waitServerReady(p)));
}

async function build(o: LabOptions, say: Say): Promise<LabState> {
  const dir = labDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const s: LabState = { format: 1, dir, options: o, namespaces: [], processes: [], ready: false };
  const save = (): void => writeState(s);
  save();
  say('certificates and token (scripts/dev-certs.sh)');
  const certs = makeLabCerts(path.join(dir, 'certs'));
  say('namespaces and links');
  createHostsAndLinks((ns) => {
    s.namespaces.push(ns);
    save();
  });
  for (const n of SERVERS) applyServerFirewall(n);
  say('WireGuard tunnels (wireguard-go)');
  await startTunnels(dir, (p) => {
    s.processes.push(p);
    save();
  });
  setBottleneck(o.rateMbit);
  writeImpairment(dir, o.delayMs, o.jitterMs);
  await startProxies(dir, (p) => {
    s.processes.push(p);
    save();
  });
  say(`servers (${o.serverArgs.join(' ') || 'default model'}); waiting until both are ready`);
  await startServers(s, save);
  say(`edge (${o.edge})`);
  writeEdgeConfig(dir, o.edge, certs, viaProxy(o));
  s.processes.push(startEdge(dir, o.edge));
  save();
  await waitEdgeReady(s);
  s.ready = true;
  save();
  return s;
}

/** A running lab, changed in place: only what differs from its recorded options is touched. */
async function reconfigure(s: LabState, o: LabOptions, say: Say): Promise<LabState> {
  const save = (): void => writeState(s);
  const was = s.options;
  s.options = o;
  const servers = s.processes.filter(isServer);
  const argsChanged = JSON.stringify(was.serverArgs) !== JSON.stringify(o.serverArgs);
  const restart = argsChanged ? servers : servers.filter((p) => !isAlive(p));
  if (restart.length > 0) {
    say(argsChanged ? 'server flags changed: restarting both servers' : `restarting ${restart.map((p) => p.role).join(', ')} (not running)`);
    await Promise.all(restart.map((p) => stopProcess(p, 15_000)));
    s.processes = s.processes.filter((p) => !restart.includes(p));
    const started = restart.map((p) => startServer(s.dir, p.role as ServerName, o.serverArgs));
    s.processes.push(...started);
    save();
    await Promise.all(started.map((p) => waitServerReady(p)));
  }
  if (was.rateMbit !== o.rateMbit) {
    say(o.rateMbit === undefined ? 'bottleneck removed' : `bottleneck: tbf ${o.rateMbit} Mbit/s`);
    setBottleneck(o.rateMbit);
  }
  if (was.delayMs !== o.delayMs || was.jitterMs !== o.jitterMs) {
    say(`edge↔server impairment: delay ${o.delayMs ?? 0} ms, jitter ${o.jitterMs ?? 0} ms`);
    writeImpairment(s.dir, o.delayMs, o.jitterMs);
    await reloadProxies(s.processes.filter((p) => p.role.startsWith('impair-proxy')));
  }
  const edge = s.processes.find((p) => p.role.startsWith('edge'))!;
  if (writeEdgeConfig(s.dir, o.edge, certsIn(path.join(s.dir, 'certs')), viaProxy(o))) {
    say('edge config changed: reloading the edge');
    if (o.edge === 'haproxy') {
      reloadHaproxy(edge);
      await sleep(500); // the new worker takes over; the readiness wait below then sees its view
    } else {
      await stopProcess(edge);
      s.processes = s.processes.filter((p) => p !== edge);
      s.processes.push(startEdge(s.dir, o.edge));
    }
  }
  save();
  await waitEdgeReady(s);
  return s;
}

export async function up(o: LabOptions, say: Say): Promise<LabState> {
  const s = readState();
  if (s && s.options.edge === o.edge && healthy(s)) return reconfigure(s, o, say);
  if (s || existingNamespaces().length > 0) {
    say('a previous lab is incomplete or stopped: removing it first');
    await down(() => undefined);
  }
  try {
    return await build(o, say);
  } catch (e) {
    // Keep what was made for a look (`status`, the logs), and say how to remove it.
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n(the partial lab stays for inspection: npm run lab -- down removes it)`);
  }
}

function wgSockets(): string[] {
  return (['edge', ...SERVERS] as const).map(wgDev)
    .map((d) => path.join(WG_SOCKET_DIR, `${d}.sock`))
    .filter((f) => fs.existsSync(f));
}

export interface DownReport {
  stopped: string[];
  namespaces: string[];
  leftovers: string[];
}

export async function down(say: Say): Promise<DownReport> {
  const s = readState();
  const stopped: string[] = [];
  if (s) {
    // Edge first (no new calls), then servers, proxies and tunnels.
    await Promise.all(
      [...s.processes].reverse().map(async (p) => {
        if (!isAlive(p)) return;
        await stopProcess(p, 5_000);
        stopped.push(`${p.role} (pid ${p.pid})`);
      }),
    );
  }
  const namespaces = existingNamespaces();
  for (const ns of namespaces) {
    // Anything still inside a namespace of ours was started by the lab (e.g. before its state was saved).
    for (const pid of pidsIn(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
        stopped.push(`pid ${pid} in ${ns}`);
      } catch {
        // gone
      }
    }
  }
  for (let i = 0; i < 50 && namespaces.some((ns) => pidsIn(ns).length > 0); i++) await sleep(100);
  for (const ns of namespaces) deleteNamespace(ns);
  // wireguard-go removes its control socket when stopped; one killed with SIGKILL leaves it behind.
  for (const f of wgSockets()) fs.rmSync(f, { force: true });
  for (const d of existingHostsDirs()) fs.rmSync(d, { recursive: true, force: true });
  // /etc/netns itself only holds per-namespace files; an empty one is what the lab's client entry left.
  if (fs.existsSync('/etc/netns') && fs.readdirSync('/etc/netns').length === 0) fs.rmdirSync('/etc/netns');
  fs.rmSync(labDir(), { recursive: true, force: true });
  const leftovers = [...existingNamespaces().map((n) => `namespace ${n}`), ...wgSockets(), ...existingHostsDirs(), ...(fs.existsSync(labDir()) ? [labDir()] : [])];
  for (const l of stopped) say(`stopped ${l}`);
  say(namespaces.length > 0 ? `removed namespaces ${namespaces.join(', ')} and ${labDir()}` : 'no lab namespaces found');
  return { stopped, namespaces, leftovers };
}

export interface LabStatus {
  running: boolean;
  edge: { kind: string; ipv4: string; ipv6: string; port: number; target_ipv4: string; target_ipv6: string; ca: string; servername: string; config: string; log: string };
  token: string;
  servers: Array<{ name: ServerName; address: string; address_ipv6: string; pid: number; alive: boolean; edge_status?: string; log: string }>;
  namespaces: string[];
  impairment: { rate_mbit?: number; delay_ms?: number; jitter_ms?: number; via_proxy: boolean };
  server_args: string[];
  processes: Array<{ role: string; pid: number; alive: boolean; log: string }>;
  dir: string;
  state_file: string;
}

export async function status(): Promise<LabStatus | undefined> {
  const s = readState();
  if (!s) return undefined;
  const certs = certsIn(path.join(s.dir, 'certs'));
  let edgeStatus: Record<string, string> = {};
  if (s.options.edge === 'haproxy') edgeStatus = await haproxyServerStatus(s.dir).catch(() => ({}));
  return {
    running: healthy(s),
    edge: {
      kind: s.options.edge,
      ipv4: EDGE_ADDRESS.ipv4,
      ipv6: EDGE_ADDRESS.ipv6,
      port: EDGE_PORT,
      target_ipv4: `${EDGE_ADDRESS.ipv4}:${EDGE_PORT}`,
      target_ipv6: `[${EDGE_ADDRESS.ipv6}]:${EDGE_PORT}`,
      ca: certs.ca,
      servername: EDGE_SERVERNAME,
      config: edgeConfigFile(s.dir, s.options.edge),
      log: edgeLog(s.dir),
    },
    token: certs.token,
    servers: SERVERS.map((n) => {
      const p = byRole(s, n);
      return { name: n, address: `${TUNNEL[n].ipv4}:${SERVER_GRPC_PORT}`, address_ipv6: `[${TUNNEL[n].ipv6}]:${SERVER_GRPC_PORT}`, pid: p?.pid ?? 0, alive: p ? isAlive(p) : false, edge_status: edgeStatus[n], log: p?.log ?? '' };
    }),
    namespaces: existingNamespaces(),
    impairment: { rate_mbit: s.options.rateMbit, delay_ms: s.options.delayMs, jitter_ms: s.options.jitterMs, via_proxy: viaProxy(s.options) },
    server_args: s.options.serverArgs,
    processes: s.processes.map((p) => ({ role: p.role, pid: p.pid, alive: isAlive(p), log: p.log })),
    dir: s.dir,
    state_file: stateFile(),
  };
}

export function statusText(st: LabStatus | undefined): string {
  if (!st) return 'no lab (npm run lab -- up)';
  const imp = st.impairment;
  return [
    `lab ${st.running ? 'running' : 'NOT running (a process or namespace is gone: npm run lab -- down, then up)'}`,
    `edge (${st.edge.kind}): ${st.edge.target_ipv4} and ${st.edge.target_ipv6}, TLS name ${st.edge.servername}`,
    `  --ca ${st.edge.ca}`,
    `  --token ${st.token}`,
    ...st.servers.map((s) => `${s.name}: ${s.address} (tunnel) pid ${s.pid} ${s.alive ? 'alive' : 'DEAD'}${s.edge_status ? `, edge sees ${s.edge_status}` : ''}`),
    `bottleneck ${imp.rate_mbit === undefined ? 'none' : `${imp.rate_mbit} Mbit/s`}; edge↔server ${imp.via_proxy ? `delay ${imp.delay_ms ?? 0} ms, jitter ${imp.jitter_ms ?? 0} ms (impairment proxy)` : 'direct'}`,
    `namespaces: ${st.namespaces.join(' ')}`,
    `try: npm run lab -- exec client -- node bin/rtinfer.js classify --target ${st.edge.servername}:${st.edge.port} --ca ${st.edge.ca} --token ${st.token} IMAGE`,
    `logs and configs: ${st.dir}`,
  ].join('\n');
}
