/**
 * Where an HTTP/2 transport connects: a host and port or a Unix socket, plaintext or TLS, and the
 * :authority to send. Parsed once from the connection options every verb takes.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { normalizeTarget, type ConnectOptions } from '../connect';

export interface TlsSettings {
  ca?: Buffer;
  /** Client certificate chain and key for mutual TLS (--cert/--key). */
  cert?: Buffer;
  key?: Buffer;
  /** The TLS server name to send and verify (serverNameOf), resolved once here. */
  servername?: string;
}

export interface Endpoint {
  /** host:port or unix:path, for messages. */
  label: string;
  host?: string;
  port?: number;
  /** Unix socket path instead of host/port. */
  socketPath?: string;
  tls?: TlsSettings;
  /** :authority */
  authority: string;
}

/** Reads a PEM file named by a flag; a clear message beats OpenSSL's "no start line" later. */
export function readPemFlag(flag: string, file: string): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${flag} ${file}: ${(e as Error).message}`);
  }
  if (!data.toString('latin1').includes('-----BEGIN ')) throw new Error(`${flag} ${file} is not PEM (no "-----BEGIN" line)`);
  return data;
}

/** The PEM files of --ca, --cert and --key, read (each undefined when not given). */
export function tlsFilesOf(o: Pick<ConnectOptions, 'ca' | 'cert' | 'key'>): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const files = {
    ca: o.ca === undefined ? undefined : readPemFlag('--ca', o.ca),
    cert: o.cert === undefined ? undefined : readPemFlag('--cert', o.cert),
    key: o.key === undefined ? undefined : readPemFlag('--key', o.key),
  };
  if (files.cert && files.key) {
    // Said here, naming both files, rather than as OpenSSL's "key values mismatch" from inside a transport.
    try {
      tls.createSecureContext({ cert: files.cert, key: files.key });
    } catch (e) {
      throw new Error(`--key ${o.key} does not go with --cert ${o.cert} (${(e as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/, '')})`);
    }
  }
  return files;
}

/**
 * The TLS server name (SNI, and the name the server's certificate must hold): --servername, else the host
 * when it is a name. Never an IP literal: SNI cannot carry one (RFC 6066 §3), and Node checks an IP
 * against the certificate's IP addresses without it.
 */
export function serverNameOf(host: string | undefined, override?: string): string | undefined {
  return override ?? (host && net.isIP(host) === 0 ? host : undefined);
}

/** --tls, or any flag that only makes sense with it. */
export function usesTls(o: Pick<ConnectOptions, 'tls' | 'ca' | 'cert'>): boolean {
  return o.tls || o.ca !== undefined || o.cert !== undefined;
}

/** Endpoint from a normalized target: host:port, [v6]:port, dns:[///]host:port, ipv4:/ipv6:addr:port, unix:path. */
export function endpointOf(o: ConnectOptions, transport = 'h2'): Endpoint {
  const target = normalizeTarget(o.target);
  const files = usesTls(o) ? tlsFilesOf(o) : undefined;
  const tlsOf = (host: string | undefined): TlsSettings | undefined => files && { ...files, servername: serverNameOf(host, o.servername) };
  const unix = /^unix:(?:\/\/)?(.+)$/i.exec(target);
  if (unix) return { label: target, socketPath: unix[1], tls: tlsOf(undefined), authority: o.servername ?? 'localhost' };
  const hostPort = target.replace(/^dns:(?:\/\/[^/]*\/)?/i, '').replace(/^ipv[46]:/i, '');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(hostPort) ?? /^([^:[\]]+):(\d+)$/.exec(hostPort);
  if (!m) throw new Error(`--transport ${transport} cannot use target "${o.target}": give host:port or [ipv6]:port (or use --transport grpc-js)`);
  return { label: hostPort, host: m[1], port: Number(m[2]), tls: tlsOf(m[1]), authority: o.servername ?? hostPort };
}
