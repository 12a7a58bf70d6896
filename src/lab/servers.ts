/**
 * The project's real server (scripts/start.js, what `npm start` runs) in each server namespace, bound to
 * every address (the firewall admits the tunnel only), naming itself with --server-id so each response
 * says which replica answered. Metrics and readiness listen on an explicit host, since the server's own
 * default may be loopback only and the edge checks /readyz through the tunnel.
 */
import * as path from 'node:path';
import { isAlive, startIn, waitForLine, type LabProcess } from './processes';
import { SERVER_GRPC_PORT, SERVER_METRICS_PORT, type ServerName } from './topology';

export const START_SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'start.js');

export function serverCommand(name: ServerName, serverArgs: string[]): string[] {
  return [
    process.execPath,
    START_SCRIPT,
    '--host', '::',
    '--port', String(SERVER_GRPC_PORT),
    '--metrics-host', '::',
    '--metrics-port', String(SERVER_METRICS_PORT),
    '--server-id', name,
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
