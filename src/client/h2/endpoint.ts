/**
 * Where an HTTP/2 transport connects: a host and port or a Unix socket, plaintext or TLS, and the
 * :authority to send. Parsed once from the connection options every verb takes.
 */
import * as fs from 'node:fs';
import { normalizeTarget, type ConnectOptions } from '../connect';

export interface Endpoint {
  /** host:port or unix:path, for messages. */
  label: string;
  host?: string;
  port?: number;
  /** Unix socket path instead of host/port. */
  socketPath?: string;
  tls?: { ca?: Buffer; servername?: string };
  /** :authority */
  authority: string;
}

/** Endpoint from a normalized target: host:port, [v6]:port, dns:[///]host:port, ipv4:/ipv6:addr:port, unix:path. */
export function endpointOf(o: ConnectOptions, transport = 'h2'): Endpoint {
  const target = normalizeTarget(o.target);
  let ca: Buffer | undefined;
  if (o.ca) {
    try {
      ca = fs.readFileSync(o.ca);
    } catch (e) {
      throw new Error(`cannot read --ca ${o.ca}: ${(e as Error).message}`);
    }
  }
  const tlsOpts = o.tls || o.ca ? { ca, servername: o.servername } : undefined;
  const unix = /^unix:(?:\/\/)?(.+)$/i.exec(target);
  if (unix) return { label: target, socketPath: unix[1], tls: tlsOpts, authority: o.servername ?? 'localhost' };
  const hostPort = target.replace(/^dns:(?:\/\/[^/]*\/)?/i, '').replace(/^ipv[46]:/i, '');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(hostPort) ?? /^([^:[\]]+):(\d+)$/.exec(hostPort);
  if (!m) throw new Error(`--transport ${transport} cannot use target "${o.target}": give host:port or [ipv6]:port (or use --transport grpc-js)`);
  return { label: hostPort, host: m[1], port: Number(m[2]), tls: tlsOpts, authority: o.servername ?? hostPort };
}
