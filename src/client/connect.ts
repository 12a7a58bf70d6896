/**
 * Connection options shared by every verb: target, TLS, bearer token, deadline and N channels.
 *
 * Channel options chosen for measurement, not convenience:
 * - 'grpc.enable_retries': 0 — a transparently retried call would report one latency for two attempts.
 * - 'grpc.use_local_subchannel_pool': 1 — grpc-js otherwise shares one subchannel (one TCP connection)
 *   between all channels to the same target; --connections N must mean N real connections.
 * - unlimited message sizes on the client: the server's limit is the one under test, so an oversize
 *   request must reach it and come back as its RESOURCE_EXHAUSTED.
 * Measured and left at defaults (docs/decisions/0001-client-http2-transport.md): the grpc-js client's
 * latency tail comes from its CPU per call (several times the gRPC C core's; raw node:http2 in between),
 * which makes each call likelier to be preempted on a busy machine. Turning off channelz or
 * retries, V8 semi-space / single-threaded GC flags and dropping grpc-js's per-call caller stack changed
 * nothing measurable, so no such option is set here; the verbs instead keep their own work out of the timed
 * region (ping.ts, issuers.ts), and `ping` / `bench --rpc ping` default to their own HTTP/2 client
 * (src/client/h2/), which does not use this module's channels.
 */
import * as grpc from '@grpc/grpc-js';
import { InferenceServiceClient, InferenceServiceService } from '../gen/inference/v1/inference';
import { statusName } from '../shared/grpc-status';
import { connectError, diagnose, type ConnectDiagnosis } from './connect-diagnosis';
import { tlsFilesOf, usesTls } from './h2/endpoint';

export interface ConnectOptions {
  /** host:port, [v6]:port, or a grpc-js URI (dns:///…, unix:…). Default localhost:8000. */
  target: string;
  tls: boolean;
  /** PEM CA bundle to trust (implies TLS). Default: the system roots. */
  ca?: string;
  /** PEM client certificate chain and its key, for servers that require mutual TLS (implies TLS). */
  cert?: string;
  key?: string;
  /** TLS server name / authority override, e.g. when connecting by IP to a cert for a host name. */
  servername?: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Per-call deadline; undefined = none. */
  deadlineMs?: number;
  /** Distinct channels (TCP connections); calls are spread round-robin. Default 1. */
  connections: number;
}

export interface Connection {
  target: string;
  clients: InferenceServiceClient[];
  /** Shared by every call (grpc-js clones it per call), carries the token if any. */
  metadata: grpc.Metadata;
  /** Call options with a fresh deadline (or a shared empty object when there is none). */
  callOptions(): Partial<grpc.CallOptions>;
  close(): void;
}

/** Where the serialized message sizes are kept on decoded messages (wire bytes, excluding framing). */
export const WIRE_BYTES = Symbol('wireBytes');
export type WithWireBytes = { [WIRE_BYTES]?: number };

/**
 * The generated service definition with deserializers that note each response's serialized size on the
 * decoded message, so MB/s down costs no re-encoding.
 */
type AnyDef = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (v: never) => Buffer;
  requestDeserialize: (b: Buffer) => unknown;
  responseSerialize: (v: never) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
};
function instrumented(): grpc.ServiceDefinition {
  const out: Record<string, AnyDef> = {};
  for (const [name, def] of Object.entries(InferenceServiceService as unknown as Record<string, AnyDef>)) {
    const decode = def.responseDeserialize;
    out[name] = {
      ...def,
      responseDeserialize: (b: Buffer): unknown => {
        const m = decode(b) as WithWireBytes;
        m[WIRE_BYTES] = b.length;
        return m;
      },
    };
  }
  return out as unknown as grpc.ServiceDefinition;
}

const Client = grpc.makeGenericClientConstructor(instrumented(), 'inference.v1.InferenceService') as unknown as typeof InferenceServiceClient;

/** "host:port" with IPv6 literals bracketed; a bare host gets :8000; URIs pass through. */
export function normalizeTarget(t: string): string {
  if (/^(dns|unix|unix-abstract|ipv4|ipv6|xds):/i.test(t)) return t; // gRPC URIs pass through
  if (t.startsWith('[')) {
    if (/^\[[0-9a-f:.%a-z]+\]:\d+$/i.test(t)) return t;
    if (/^\[[0-9a-f:.%a-z]+\]$/i.test(t)) return `${t}:8000`;
  } else if (/^[0-9a-f]*:[0-9a-f:.]*$/i.test(t) && (t.match(/:/g) ?? []).length > 1) {
    return `[${t}]:8000`; // a bare IPv6 literal has no port
  } else if (/^[^:\s]+:\d+$/.test(t)) {
    return t;
  } else if (/^[^:\s]+$/.test(t)) {
    return `${t}:8000`;
  }
  throw new Error(`cannot parse target "${t}": use host:port, [ipv6]:port or a gRPC URI (dns:///host:port)`);
}

export function channelOptions(o: ConnectOptions, index: number): grpc.ChannelOptions {
  const opts: grpc.ChannelOptions = {
    'grpc.enable_retries': 0,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    // Unique per channel, so no layer can decide two channels are the same and merge them.
    'rtinfer.channel_index': index,
  };
  if (o.servername) {
    opts['grpc.ssl_target_name_override'] = o.servername;
    opts['grpc.default_authority'] = o.servername;
  }
  return opts;
}

export function credentials(o: ConnectOptions): grpc.ChannelCredentials {
  if (!usesTls(o)) return grpc.credentials.createInsecure();
  const f = tlsFilesOf(o);
  return grpc.credentials.createSsl(f.ca ?? null, f.key ?? null, f.cert ?? null);
}

export function connect(o: ConnectOptions): Connection {
  const target = normalizeTarget(o.target);
  const creds = credentials(o);
  const n = Math.max(1, Math.floor(o.connections));
  const clients: InferenceServiceClient[] = [];
  for (let i = 0; i < n; i++) clients.push(new Client(target, creds, channelOptions(o, i)));
  const metadata = new grpc.Metadata();
  if (o.token) metadata.set('authorization', `Bearer ${o.token}`);
  const none: Partial<grpc.CallOptions> = {};
  const deadlineMs = o.deadlineMs;
  return {
    target,
    clients,
    metadata,
    callOptions: deadlineMs === undefined || deadlineMs <= 0 ? () => none : () => ({ deadline: Date.now() + deadlineMs }),
    close: () => clients.forEach((c) => c.close()),
  };
}

/**
 * Waits until every channel is connected (or the timeout passes), so setup never lands in a measurement.
 * grpc-js reports no reason for a failed attempt, only TRANSIENT_FAILURE, and would retry with back-off
 * until the deadline; so at the first TRANSIENT_FAILURE one probe connection looks for a cause that
 * waiting cannot fix (nothing listening, TLS on one side only, a certificate refused) and fails at once
 * when it finds one. Watching the state costs nothing on a healthy start, where a probe made up front
 * would add a connection to every run (connect-diagnosis.ts).
 */
export async function waitForReady(c: Connection, timeoutMs: number, o?: ConnectOptions): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const explain = (): Promise<ConnectDiagnosis | undefined> => (o ? diagnose(o, undefined) : Promise.resolve(undefined));
  const channelReady = (ch: ReturnType<grpc.Client["getChannel"]>): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let probed = false;
      // Still CONNECTING at the deadline: a probe would meet the same silence, so none is made.
      const timedOut = (): void => reject(connectError(c.target, 'Failed to connect before the deadline', undefined, timeoutMs));
      const watch = (state: grpc.connectivityState): void => {
        if (Date.now() >= deadline) return timedOut();
        ch.watchConnectivityState(state, deadline, (err?: Error) => (err ? timedOut() : step()));
      };
      const step = (): void => {
        const state = ch.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve();
        if (state === grpc.connectivityState.SHUTDOWN) return reject(new Error(`UNAVAILABLE: the channel to ${c.target} was closed`));
        if (state !== grpc.connectivityState.TRANSIENT_FAILURE || probed || !o) return watch(state);
        probed = true;
        // A diagnosis that fails names nothing: keep watching, as when it finds no cause.
        void explain().then((d) => (d ? reject(connectError(c.target, d.reason, d)) : watch(state)), () => watch(state));
      };
      step();
    });
  await Promise.all(c.clients.map((cl) => channelReady(cl.getChannel())));
}

/** "NAME: message" for a gRPC error, or the message of any other error. */
export function describeError(e: unknown): string {
  const se = e as Partial<grpc.ServiceError>;
  if (se && typeof se.code === 'number') return `${statusName(se.code)}: ${se.details ?? se.message ?? ''}`;
  return e instanceof Error ? e.message : String(e);
}
