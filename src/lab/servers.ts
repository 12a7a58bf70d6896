/**
 * The project's real server (scripts/start.js, what `npm start` runs) in each server namespace, bound to
 * every address (the firewall admits the tunnel only), naming itself with --server-id so each response
 * says which replica answered. Metrics and readiness listen on an explicit host, since the server's own
 * default may be loopback only and the edge checks /readyz through the tunnel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive, startIn, waitForLine, type LabProcess } from './processes';
import { SERVER_GRPC_PORT, SERVER_METRICS_PORT, SERVER_WEB_PORT, type ServerName } from './topology';
import { HAPROXY_EDGE } from './haproxy-config';

const seconds = (d: string): number => Number(d.replace(/s$/, ''));

/**
 * How long a stopping server keeps taking calls while /readyz says 503: until the edge's last failing check
 * (interval × fall) has had its full timeout, so the edge has marked it down before the listener closes and
 * no call is refused during a failover.
 */
export const LAB_DRAIN_DELAY_MS = (seconds(HAPROXY_EDGE.checkInterval) * HAPROXY_EDGE.checkFall + seconds(HAPROXY_EDGE.checkTimeout)) * 1000;
/** The server's own --grace-ms default, and a margin: how long a stopping server may take to exit. */
export const LAB_SERVER_STOP_MS = LAB_DRAIN_DELAY_MS + 10_000 + 5_000;

export const START_SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'start.js');

export function serverCommand(name: ServerName, serverArgs: string[]): string[] {
  return [
    process.execPath,
    START_SCRIPT,
    '--host', '::',
    '--port', String(SERVER_GRPC_PORT),
    '--metrics-host', '::',
    '--metrics-port', String(SERVER_METRICS_PORT),
    // The browser page and its gRPC-web calls: HAProxy has no gRPC-web translation (Envoy's grpc_web
    // filter), so the lab edge passes them to the server's own web port.
    '--web-port', String(SERVER_WEB_PORT),
    '--server-id', name,
    '--drain-delay-ms', String(LAB_DRAIN_DELAY_MS),
    '--log-format', 'json',
    // The user's flags come last, so they may override any of the above except what the lab depends on.
    ...serverArgs,
  ];
}

export function startServer(dir: string, name: ServerName, serverArgs: string[]): LabProcess {
  return startIn(name, name, serverCommand(name, serverArgs), path.join(dir, `${name}.log`));
}

/** Waits for the server's "ready" log line (model loaded and warm, health SERVING). */
export async function waitServerReady(p: LabProcess, timeoutMs = 180_000): Promise<void> {
  await waitForLine(p.log, /"msg":"ready"/, timeoutMs, () => isAlive(p), p.role);
}

/** The server's log says it began shutting down after it was last ready (it drains, then exits). */
export function isShuttingDown(log: string): boolean {
  const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
  return text.lastIndexOf('"msg":"shutting down') > text.lastIndexOf('"msg":"ready"');
}
