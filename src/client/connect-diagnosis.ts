/**
 * Why a connection could not be made, said as what to do: "add --tls", "pass --ca FILE", "pass --cert
 * and --key", "drop --tls", "nothing listens there". Shared by the three transports (h2, node-http2,
 * grpc-js) so one mistake reads the same whichever carried it.
 *
 * Two sources: the transport's own error text (OpenSSL and socket errors name the cause; `hintFor` maps
 * them), and, when that text names nothing (grpc-js exposes no reason at all, only TRANSIENT_FAILURE; a
 * plaintext client to a TLS port just sees the connection close), one probe connection made with the
 * same options (`probe`). The probe runs only after a connection attempt has failed, so a healthy run
 * never opens it (docs/decisions/0012-connect-failures-named-by-one-probe.md).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { ConnectOptions } from './connect';
import { endpointOf, serverNameOf, usesTls, type Endpoint, type TlsSettings } from './h2/endpoint';

export interface ConnectDiagnosis {
  /** The low-level reason (OpenSSL's short reason or the socket error), kept so nothing is hidden. */
  reason: string;
  /** What the user should do. */
  hint: string;
}

/** How long the probe may take; it runs only after a failed attempt, on a path that already answered or refused. */
const PROBE_TIMEOUT_MS = 1500;

/** The HTTP/2 client preface and an empty SETTINGS frame: what a plaintext gRPC client sends first. */
const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/**
 * OpenSSL's errors read "805C…:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate
 * required:../deps/…:1601:SSL alert number 116": keep the words between the function and the file.
 */
export function shortReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(message);
  return (m ? m[1] : message).trim();
}

/** What the plaintext probe reports when a TLS handshake succeeds where HTTP/2 was hung up on. */
const SPEAKS_TLS = 'the server speaks TLS';
/** What the TLS probe reports when the server hangs up, without an alert, right after the handshake. */
const CLOSED_AFTER_HANDSHAKE = 'the server closed the connection right after the TLS handshake';

/** A hint for an error text that names its cause; undefined when it names none. */
export function hintFor(message: string, o: Pick<ConnectOptions, 'tls' | 'ca' | 'cert'>, label: string): string | undefined {
  if (message === SPEAKS_TLS) return `the server speaks TLS: add --tls (and --ca FILE if its certificate is not from a public CA)`;
  if (/ECONNREFUSED/.test(message)) return 'nothing listens there: is the server running, and on this port?';
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return `cannot resolve the host name of ${label}`;
  if (/EHOSTUNREACH|ENETUNREACH/.test(message)) return `no route to ${label}`;
  if (/certificate required|alert number 116/i.test(message)) return 'the server requires a client certificate: pass --cert FILE and --key FILE';
  // TLS 1.2 servers say "handshake failure" where TLS 1.3 ones say "certificate required".
  if (/alert handshake failure|alert number 40\b/i.test(message)) {
    return o.cert ? 'the server refused the TLS handshake (does it trust the CA of --cert?)' : 'the server refused the TLS handshake; it most likely requires a client certificate: pass --cert FILE and --key FILE';
  }
  if (/alert (bad certificate|unknown ca|certificate unknown|decrypt error)|alert number (42|46|48|51)\b/i.test(message)) {
    return o.cert ? `the server rejected the client certificate --cert ${o.cert} (not signed by a CA it trusts?)` : 'the server requires a client certificate: pass --cert FILE and --key FILE';
  }
  if (/unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|certificate signature failure/i.test(message)) {
    return o.ca ? `certificate not trusted: --ca ${o.ca} did not sign the server's certificate` : 'certificate not trusted: pass --ca FILE';
  }
  if (/certificate has expired|CERT_HAS_EXPIRED/i.test(message)) return 'the server\'s certificate has expired';
  if (/certificate is not yet valid|CERT_NOT_YET_VALID/i.test(message)) return 'the server\'s certificate is not valid yet (check both clocks)';
  if (/Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/i.test(message)) {
    return `the server's certificate does not name the host in ${label}: connect by a name it holds, or pass --servername NAME`;
  }
  if (usesTls(o) && /wrong version number|packet length too long|unknown protocol|http request/i.test(message)) {
    return 'the server does not speak TLS here: drop --tls (and --ca/--cert/--key)';
  }
  // A Node TLS 1.3 server that rejects a client certificate just hangs up after the handshake, with no alert.
  if (message === CLOSED_AFTER_HANDSHAKE && o.cert) return `the server rejected the client certificate --cert ${o.cert} (not signed by a CA it trusts?)`;
  if (/did not negotiate HTTP\/2 over TLS/.test(message)) return 'the TLS server does not offer HTTP/2 (ALPN h2): is this a gRPC port?';
  return undefined;
}

/**
 * The cause of a failed connection attempt, or undefined when neither the error text nor a probe names
 * one (a slow or silent server: the caller keeps waiting until its deadline). Never rejects: a probe that
 * cannot even start names nothing either. `endpoint`: the transport's own (its PEM files already read);
 * without it (grpc-js) one is made from `o`.
 */
export async function diagnose(o: ConnectOptions, reason: string | undefined, mayProbe = true, endpoint?: Endpoint): Promise<ConnectDiagnosis | undefined> {
  let ep: Endpoint;
  try {
    ep = endpoint ?? endpointOf(o, 'diagnosis');
  } catch {
    return undefined; // a gRPC URI the probe cannot follow (xds:, …): the transport's own words stand
  }
  if (reason !== undefined) {
    const hint = hintFor(reason, o, ep.label);
    if (hint) return { reason: shortReason(reason), hint };
  }
  if (!mayProbe) return undefined;
  let probed: string | undefined;
  try {
    // Inside the try, since tls.connect and net.connect throw synchronously on options they refuse (a port
    // above 65535 that the transport's own resolver merely failed to reach).
    probed = await probe(ep);
  } catch {
    return undefined;
  }
  if (!probed) return undefined;
  const hint = hintFor(probed, o, ep.label);
  return hint ? { reason: shortReason(probed), hint } : undefined;
}

/**
 * One connection as the client would make it. Returns an error text for hintFor, "speaks TLS" as one, or
 * undefined when the connection looked healthy or timed out (nothing to say).
 */
export function probe(ep: Endpoint): Promise<string | undefined> {
  return ep.tls ? probeTls(ep, ep.tls) : probePlain(ep);
}

function settle(socket: net.Socket, f: (done: (v: string | undefined) => void) => void, fallback: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    let finished = false;
    const done = (v: string | undefined): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(fallback), PROBE_TIMEOUT_MS);
    socket.on('error', (e: Error) => done(e.message));
    f(done);
  });
}

/** The client's own TLS settings; the server's first bytes after our preface mean all is well, an alert names the problem. */
function probeTls(ep: Endpoint, t: TlsSettings): Promise<string | undefined> {
  const s = tls.connect({ host: ep.host, port: ep.port, path: ep.socketPath, ca: t.ca, cert: t.cert, key: t.key, servername: t.servername, ALPNProtocols: ['h2'] });
  return settle(s, (done) => {
    // TLS 1.3: the server checks our certificate after our side of the handshake is done, so its
    // "certificate required" alert arrives as an error on the first read: send the preface and read.
    let secure = false;
    s.once('secureConnect', () => {
      secure = true;
      s.write(H2_PREFACE);
    });
    s.once('data', () => done(undefined));
    s.once('close', () => done(secure ? CLOSED_AFTER_HANDSHAKE : undefined));
  }, undefined);
}

/** A plaintext HTTP/2 preface; if the server hangs up instead of answering, try a TLS handshake. */
async function probePlain(ep: Endpoint): Promise<string | undefined> {
  const s = ep.socketPath ? net.connect({ path: ep.socketPath }) : net.connect({ host: ep.host, port: ep.port ?? 0 });
  const HUNG_UP = 'hung up';
  const plain = await settle(s, (done) => {
    s.once('connect', () => s.write(H2_PREFACE));
    // A TLS server answers garbage with an alert record (content type 21) or not at all.
    s.once('data', (b: Buffer) => done(b[0] === 0x15 ? HUNG_UP : undefined));
    s.once('close', () => done(HUNG_UP));
  }, undefined);
  if (plain !== HUNG_UP) return plain; // an error names the cause; an answer means HTTP/2 is spoken here
  const t = tls.connect({ host: ep.host, port: ep.port, path: ep.socketPath, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: serverNameOf(ep.host) });
  const speaksTls = await settle(t, (done) => t.once('secureConnect', () => done('tls')), undefined);
  return speaksTls === 'tls' ? SPEAKS_TLS : undefined;
}

/** The Error every transport throws when it cannot get a ready connection: the advice first, the low-level reason kept in parentheses. */
export function connectError(label: string, reason: string, d: ConnectDiagnosis | undefined, timeoutMs?: number): Error {
  const head = `UNAVAILABLE: could not connect to ${label}${timeoutMs === undefined ? '' : ` within ${timeoutMs} ms`}`;
  if (!d) return new Error(`${head} (${reason})`);
  return new Error(d.reason === SPEAKS_TLS ? `${head}: ${d.hint}` : `${head}: ${d.hint} (${d.reason})`);
}
