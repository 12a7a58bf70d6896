/**
 * rtinfer: the measuring client. yargs wiring only; each verb lives in its own module.
 *
 * Exit codes (after irtt): 0 ok; 1 runtime error (cannot connect, a call or every request failed, no
 * ping reply); 2 usage error; 3 interrupted twice; 4 the run worked but the real-time verdict is FAIL
 * (so scripts can tell "the infrastructure is too slow" from "the tool broke").
 * `local …` is dispatched by bin/rtinfer.js to src/local/cli.ts, so this module never loads tfjs.
 */
import yargs, { Argv } from 'yargs';
import { emitReport, environment, EXIT, histogramSection, loadRunExitCode, newReport, toolVersion, Verb } from '../measure/report-json';
import { writeHtmlReport } from '../measure/report-html';
import { readReport } from '../measure/report-json';
import { runBench, runStream, Rpc } from './bench';
import { classifyOne, classifyText, serverInfo, serverInfoVia } from './classify';
import { connect, Connection, ConnectOptions, describeError, waitForReady } from './connect';
import { firstUnreadableImage, generateImages, loadImages, LoadedImage, parseSize } from '../shared/images';
import { joinJsonDash, jsonToStdout } from '../shared/json-dash';
import { checkNumbers, CONNECTION_NUMBERS, UsageError, VERDICT_NUMBERS } from '../shared/flag-checks';
import { failureGuard, type FailureGuard } from './failure-guard';
import { h2Transport, nodeHttp2Transport } from './h2';
import { keepWarmText, probeLine, summaryText, wakeUpWarning } from '../measure/ping-printer';
import { describeServer, headerText, type ImageSet } from '../measure/load-printer';
import { KEEP_WARM_INTERVAL_MS, REFERENCE_MIN_INTERVAL_MS, runPing, warmUpVia } from './ping';
import { grpcJsTransport, TRANSPORTS, type TransportName, type UnaryTransport } from './unary-transport';
import { AGENT_ENV, isDistributed, lateStartWarning, planAgent, startGate, type AgentPlan } from './agent';
import { mergeRuns, mergeText } from '../measure/report-merge';
import type { AgentInfo, RunReport } from '../measure/report-json';
import { randomBytes } from 'node:crypto';
import { pathText, pathWarnings } from '../measure/path-printer';
import { createPathTracker } from './path-tracker';
import type { PingVia } from '../measure/path';
import type { PingFn } from './path-pings';
import { CLIENT_JPEG_QUALITY, prepareImages, SEND_CHOICES, sendChoiceOf } from './client-resize';
import { requestPayloadText } from '../measure/request-payload';

/** Metadata key of ping's session id (the server's per-session Ping counters: src/server/ping-sessions.ts). */
const SESSION_METADATA = 'rtinfer-session';

export { EXIT };

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

const processIo: Io = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

export { UsageError };

export function connectionOptions<T>(y: Argv<T>) {
  return y
    .option('target', { alias: 't', type: 'string', default: 'localhost:8000', describe: 'server host:port ([::1]:8000 for IPv6)' })
    .option('tls', { type: 'boolean', default: false, describe: 'use TLS (system roots unless --ca)' })
    .option('ca', { type: 'string', describe: 'PEM CA file to trust (implies --tls); default $RTINFER_CA' })
    .option('cert', { type: 'string', describe: 'PEM client certificate, for servers that require mutual TLS (needs --key; implies --tls)' })
    .option('key', { type: 'string', describe: 'PEM private key of --cert' })
    .option('servername', { type: 'string', describe: 'TLS server name / authority override; default $RTINFER_SERVERNAME' })
    .option('token', { type: 'string', describe: 'bearer token (sent as authorization: Bearer …); default $RTINFER_TOKEN' })
    .option('deadline-ms', { type: 'number', describe: 'per-call deadline in ms (ping default: max(1000, 2×interval))' })
    .option('connections', { alias: 'n', type: 'number', default: 1, describe: 'channels (distinct TCP connections)' })
    .option('json', { type: 'string', describe: 'write the full result as JSON to this file ("-": to stdout, and the human output to stderr)' });
}

export function imageOptions<T>(y: Argv<T>) {
  return clientResizeOptions(y)
    .option('images', { type: 'array', string: true, describe: 'image files or directories' })
    .option('image-size', { type: 'string', describe: 'generate noise JPEGs of WxH instead (default 224x224 when no --images)' })
    .option('top-k', { type: 'number', default: 5, describe: 'classes returned per image' });
}

export function clientResizeOptions<T>(y: Argv<T>) {
  return y
    .option('client-resize', { type: 'boolean', default: false, describe: 'resize each image to the model\'s input (from GetServerInfo) as the server would (fill, bilinear), once before the run; --send says what is sent' })
    .option('send', { choices: SEND_CHOICES, describe: `with --client-resize: jpeg (default) = a JPEG of the input size (quality ${CLIENT_JPEG_QUALITY}); tensor = raw uint8 RGB HWC (ClassifyRequest.tensor), the server decodes nothing` });
}

export function verdictOptions<T>(y: Argv<T>) {
  return y
    .option('budget-ms', { type: 'number', describe: 'latency budget for the verdict' })
    .option('percentile', { type: 'number', default: 99, describe: 'percentile the budget applies to' });
}

export function agentOptions<T>(y: Argv<T>) {
  return y
    .option('start-at', { type: 'string', describe: 'distributed run: start (warm-up, then measurement) at this ISO 8601 instant, e.g. 2026-01-31T12:00:00Z; a late start is reported' })
    .option('agents', { type: 'number', describe: `distributed run: agents sharing the load (default $${AGENT_ENV.count}, else 1)` })
    .option('agent-index', { type: 'number', describe: `distributed run: this agent, 0-based (default $${AGENT_ENV.index}, set by an Indexed Job, else 0)` });
}

function agentPlanOf(a: { 'start-at'?: string; agents?: number; 'agent-index'?: number; rate?: number; 'rate-per-agent'?: number }): AgentPlan {
  return planAgent({ startAt: a['start-at'], agents: a.agents, agentIndex: a['agent-index'], rate: a.rate, ratePerAgent: a['rate-per-agent'] });
}

/** Runs the start gate of a distributed run (agent.ts) and records it in the report. */
async function gate(c: Connection, plan: AgentPlan, rep: RunReport, human: Io, signal?: AbortSignal): Promise<AgentInfo | undefined> {
  if (!isDistributed(plan)) return undefined;
  const info = await startGate(c, plan, signal);
  rep.agent = info;
  const share = info.rate !== undefined ? `, ${info.rate}/s${info.total_rate !== undefined ? ` of ${info.total_rate}/s in total` : ''}` : '';
  const clock = info.clock ? `, clock ${info.clock.offset_ms >= 0 ? '+' : ''}${info.clock.offset_ms.toFixed(3)} ms ± ${info.clock.error_bound_ms.toFixed(3)} ms vs the server` : '';
  const late = info.start_late_ms !== undefined ? `, started ${info.start_late_ms.toFixed(1)} ms after ${info.start_at}` : '';
  human.out(`agent ${info.index} of ${info.count}${share}${clock}${late}`);
  const w = lateStartWarning(info);
  if (w) rep.warnings.push(w);
  return info;
}

/** The connection flags as yargs spells them. */
type ConnArgs = Pick<ConnectOptions, 'target' | 'tls' | 'ca' | 'cert' | 'key' | 'servername' | 'token' | 'connections'> & {
  'deadline-ms'?: number;
  json?: string;
};

/** A variable of the environment, or undefined when unset or empty. */
function envValue(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function connOpts(a: ConnArgs, defaultDeadlineMs?: number): ConnectOptions {
  if (!(a.connections >= 1)) throw new UsageError('--connections must be ≥ 1');
  // A Kubernetes agent (deploy/k8s/load) gets its CA and server name from the environment, like its token.
  a = { ...a, ca: a.ca ?? envValue('RTINFER_CA'), servername: a.servername ?? envValue('RTINFER_SERVERNAME') };
  if (a.cert !== undefined && a.key === undefined) throw new UsageError('--cert needs --key (the private key of the certificate)');
  if (a.key !== undefined && a.cert === undefined) throw new UsageError('--key given without --cert');
  return {
    target: a.target,
    tls: a.tls || a.ca !== undefined || a.cert !== undefined,
    ca: a.ca,
    cert: a.cert,
    key: a.key,
    servername: a.servername,
    token: a.token ?? process.env.RTINFER_TOKEN,
    deadlineMs: a['deadline-ms'] ?? defaultDeadlineMs,
    connections: a.connections,
  };
}

/** Settings echoed into the JSON: every option, minus yargs internals and the secret. */
function settingsOf(a: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) {
    if (k === '_' || k === '$0' || k.includes('-') || k.length === 1) continue; // keep camelCase forms only
    out[k] = k === 'token' && v ? '(set)' : v;
  }
  return out;
}

export async function resolveImages(a: { images?: string[]; imageSize?: string }): Promise<LoadedImage[]> {
  if (a.images && a.images.length > 0) {
    const images = loadImages(a.images);
    // Checked before the run: one unreadable file would otherwise fail every request it is sent in.
    const bad = await firstUnreadableImage(images);
    if (bad) throw new UsageError(`--images: ${bad}`);
    return images;
  }
  let size: [number, number];
  try {
    size = parseSize(a.imageSize ?? '224x224');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return generateImages(...size);
}

/** The header's account of the images: generated noise of a size, or the files given. */
function imageSetOf(a: { images?: string[]; imageSize?: string }, images: LoadedImage[]): ImageSet {
  const generated = !(a.images && a.images.length > 0);
  const [width, height] = generated ? parseSize(a.imageSize ?? '224x224') : [0, 0];
  return { ...(generated ? { generated: { width, height } } : {}), images: images.map((i) => ({ name: i.name, bytes: i.bytes.length })) };
}

async function withConnection<T>(o: ConnectOptions, f: (c: Connection) => Promise<T>): Promise<T> {
  const c = connect(o);
  try {
    await waitForReady(c, Math.max(3000, o.deadlineMs ?? 0), o);
    return await f(c);
  } finally {
    c.close();
  }
}

/**
 * ping's transport: our HTTP/2 client (./h2), node:http2 or grpc-js, connected and ready before `f` runs;
 * `metadata` goes on every call (the session id of the server's per-session counters).
 */
async function withPingTransport<T>(name: TransportName, o: ConnectOptions, f: (t: UnaryTransport) => Promise<T>, metadata: Array<[string, string]> = []): Promise<T> {
  if (name === 'grpc-js') {
    return withConnection(o, (c) => {
      for (const [k, v] of metadata) c.metadata.set(k, v);
      return f(grpcJsTransport(c));
    });
  }
  const t = name === 'node-http2' ? nodeHttp2Transport(o, metadata) : h2Transport(o, metadata);
  try {
    await t.ready(Math.max(3000, o.deadlineMs ?? 0));
    return await f(t);
  } finally {
    t.close();
  }
}

/**
 * The PINGs of the per-hop decomposition (path-pings.ts): on the calls' own connections where the transport
 * can send them, otherwise on one separate HTTP/2 connection of ours to the same peer, ready before `f` runs.
 * `enabled` false (--no-path): none.
 */
async function withPathPings<T>(t: UnaryTransport | undefined, o: ConnectOptions, enabled: boolean, f: (p: { ping: PingFn; via: PingVia } | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return f(undefined);
  if (t?.ping) return f({ ping: t.ping.bind(t), via: 'same-connection' });
  const companion = h2Transport({ ...o, connections: 1 });
  try {
    await companion.ready(Math.max(3000, o.deadlineMs ?? 0));
    return await f({ ping: companion.ping.bind(companion), via: 'separate-connection' });
  } finally {
    companion.close();
  }
}

/** Says why a load run stopped early (failure-guard.ts); true when it did. */
function reportTripped(guard: FailureGuard, human: Io): boolean {
  const t = guard.tripped();
  if (!t) return false;
  human.err(`error: stopped: the first ${t.count} calls all failed with ${t.error}`);
  return true;
}

/** Runs the CLI; resolves to the exit code. `signal` aborts a run gracefully (first Ctrl-C). */
export async function main(argv: string[], io: Io = processIo, signal?: AbortSignal): Promise<number> {
  argv = joinJsonDash(argv);
  let code: number = EXIT.OK;
  const started = new Date();
  // Every verb's human lines go through `human`; the JSON of `--json -` through `io.out` alone.
  const human: Io = jsonToStdout(argv) ? { out: io.err, err: io.err } : io;
  const parser = yargs(argv)
    .scriptName('rtinfer')
    .usage('$0 <verb> [options]\n\nMeasure a realtime-inference gRPC server end to end. `rtinfer local --help` runs the model in-process.')
    .command(
      'ping',
      'round-trip time, jitter, clock offset, one-way delay and throughput probes',
      (y) =>
        connectionOptions(y)
          .option('count', { alias: 'c', type: 'number', describe: 'probes to send (default 10 unless --duration)' })
          .option('interval-ms', { alias: 'i', type: 'number', default: 1000, describe: 'time between probe sends' })
          .option('duration', { type: 'number', describe: 'seconds to probe for (count = duration / interval)' })
          .option('payload-bytes', { type: 'number', default: 0, describe: 'upload payload per probe' })
          .option('response-bytes', { type: 'number', default: 0, describe: 'download padding per probe' })
          .option('calibration-probes', { type: 'number', default: 10, describe: 'unloaded probes sent first when payloads are set' })
          .option('warmup', { type: 'number', default: 0, describe: 'probes sent and discarded before measuring (warms the client, the connection and the server)' })
          .option('arrivals', { choices: ['constant', 'poisson'] as const, default: 'constant' as const, describe: 'constant: a probe every interval; poisson: exponential gaps with that mean (cannot phase-lock with anything periodic)' })
          .option('seed', { type: 'number', describe: 'seed of the --arrivals poisson schedule (default random; reported in --json)' })
          .option('keep-warm', { type: 'boolean', default: false, describe: `keep the path awake between probes (every ${KEEP_WARM_INTERVAL_MS} ms an HTTP/2 PING, or an extra Ping call without --transport h2; not counted): RTT of an awake path at any --interval-ms` })
          .option('warm-reference', { type: 'boolean', default: true, describe: `at intervals ≥ ${REFERENCE_MIN_INTERVAL_MS} ms without payloads, an extra probe after each reply, on a just-woken path, reported apart; warns of idle wake-up (--no-warm-reference: off)` })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no per-probe lines' })
          .option('path', { type: 'boolean', default: true, describe: 'per-hop decomposition: an HTTP/2 PING alongside the probes (at most one per 10 ms per connection) and the edge\'s upstream time (--no-path: off)' })
          .option('new-connection-every', { type: 'number', describe: 'open a fresh connection every N probes (h2 transport): connection set-up and the cold path as distributions' })
          .option('transport', { choices: TRANSPORTS, default: 'h2' as TransportName, describe: 'h2: our lean HTTP/2 client (lowest client noise); node-http2: Node\'s HTTP/2 client, for comparison; grpc-js: the grpc-js channel the other verbs use' }),
      async (a) => {
        if (a.seed !== undefined && !(Number.isInteger(a.seed) && a.seed >= 0 && a.seed < 2 ** 32)) throw new UsageError(`--seed must be an integer in [0, 2^32) (got ${a.seed})`);
        checkNumbers(a, { ...CONNECTION_NUMBERS, count: 'count>=1', 'interval-ms': '>0', duration: '>0', 'payload-bytes': 'count>=0', 'response-bytes': 'count>=0', 'calibration-probes': 'count>=0', warmup: 'count>=0', 'new-connection-every': 'count>=1' }, argv);
        if (a['new-connection-every'] !== undefined && a.transport !== 'h2') throw new UsageError(`--new-connection-every needs --transport h2 (${a.transport} does not expose its connections)`);
        const o = connOpts(a, Math.max(1000, 2 * a['interval-ms']));
        const count = a.count ?? (a.duration === undefined ? 10 : undefined);
        // The server counts this session's Pings (loss by direction); a random id nobody else can guess.
        const session: Array<[string, string]> = [[SESSION_METADATA, randomBytes(16).toString('base64url')]];
        code = await withPingTransport(a.transport, o, (c) => withPathPings(c, o, a.path, async (path) => {
          const server = await serverInfoVia(c);
          human.out(`PING ${c.target} (gRPC Ping over ${c.name}): ${a['payload-bytes']} payload bytes, ${a['response-bytes']} response bytes, ${a.arrivals === 'poisson' ? 'Poisson arrivals, mean interval' : 'every'} ${a['interval-ms']} ms${a['keep-warm'] ? `; ${keepWarmText({ via: warmUpVia(c), interval_ms: KEEP_WARM_INTERVAL_MS })}` : ''}`);
          const r = await runPing(c, { count, durationS: a.duration, intervalMs: a['interval-ms'], payloadBytes: a['payload-bytes'], responseBytes: a['response-bytes'], calibrationProbes: a['calibration-probes'], warmupProbes: a.warmup, arrivals: a.arrivals, seed: a.seed, warmReference: a['warm-reference'], keepWarm: a['keep-warm'], connections: a.connections, path, newConnectionEvery: a['new-connection-every'], signal }, a.quiet ? undefined : (p) => human.out(probeLine(p)));
          human.out('');
          human.out(summaryText(c.target, r.summary));
          const rep = newReport('ping', settingsOf(a), environment(c.target, server), started);
          rep.summary = r.summary as unknown as Record<string, unknown>;
          rep.histogram = histogramSection(r.rttHistogram);
          rep.series = r.series;
          rep.status_counts = r.summary.status_counts;
          rep.errors = r.errors;
          rep.probes = r.probes;
          const wakeUp = wakeUpWarning(r.summary);
          if (wakeUp.length > 0) rep.warnings.push(wakeUp.map((x) => x.trim()).join(' '));
          const pathWarned = r.summary.path ? pathWarnings(r.summary.path) : [];
          for (const w of pathWarned) human.out(`warning: ${w}`);
          rep.warnings.push(...pathWarned);
          emitReport(rep, a.json, io);
          return r.summary.received === 0 ? EXIT.RUNTIME : EXIT.OK;
        }), session);
      },
    )
    .command(
      'classify <files..>',
      'classify images: top-k table, end-to-end time and the server timing breakdown',
      (y) =>
        clientResizeOptions(connectionOptions(y))
          .positional('files', { type: 'string', array: true, demandOption: true, describe: 'image files' })
          .option('top-k', { type: 'number', default: 5, describe: 'classes to show per image' })
          .option('path', { type: 'boolean', default: true, describe: 'per-hop decomposition over the images: HTTP/2 PINGs on a separate connection to the same peer (grpc-js carries the calls) and the edge\'s upstream time (--no-path: off)' }),
      async (a) => {
        checkNumbers(a, { ...CONNECTION_NUMBERS, 'top-k': 'count>=1' }, argv);
        const send = sendChoiceOf(a);
        const o = connOpts(a);
        const files = loadImages(a.files as string[]);
        code = await withConnection(o, (c) => withPathPings(undefined, o, a.path, async (pp) => {
          const server = await serverInfo(c);
          const { images, request } = await prepareImages(files, send, server, a['top-k']);
          const results = [];
          const tracker = pp ? createPathTracker(pp.ping, pp.via, 1) : undefined;
          for (const im of images) {
            const r = await classifyOne(c, im, a['top-k'], tracker);
            results.push(r);
            (r.status === 'OK' ? human.out : human.err)(classifyText(r));
          }
          await tracker?.pings.settled();
          const path = tracker?.summary();
          if (path) for (const l of pathText(path)) human.out(l);
          human.out(requestPayloadText(request));
          const rep = newReport('classify', settingsOf(a), environment(c.target, server), started);
          rep.results = results;
          const failed = results.filter((r) => r.status !== 'OK').length;
          rep.summary = { images: results.length, ok: results.length - failed, errors: failed, request, ...(path ? { path } : {}) };
          if (path) rep.warnings.push(...pathWarnings(path));
          for (const r of results) rep.status_counts[r.status] = (rep.status_counts[r.status] ?? 0) + 1;
          rep.errors = results.filter((r) => r.status !== 'OK').map((r) => ({ message: `${r.status}: ${r.message} (${r.image})`, count: 1 }));
          emitReport(rep, a.json, io);
          return failed > 0 ? EXIT.RUNTIME : EXIT.OK;
        }));
      },
    )
    .command(
      'bench',
      'load test: closed loop (--concurrency), open loop (--rate), or a concurrency --sweep',
      (y) =>
        agentOptions(verdictOptions(imageOptions(connectionOptions(y))))
          .option('rpc', { choices: ['classify', 'stream', 'ping'] as const, default: 'classify' as Rpc, describe: 'the call to load: Classify, ClassifyStream frames, or Ping (transport and server overhead only)' })
          .option('concurrency', { alias: 'C', type: 'number', default: 1, describe: 'closed loop: requests in flight; open loop: most in flight' })
          .option('rate', { alias: 'r', type: 'number', describe: 'open loop: requests/s (latency from the intended send time); with --agents, the total, split across them' })
          .option('rate-per-agent', { type: 'number', describe: 'open loop, distributed run: requests/s of each agent (the total is this × --agents)' })
          .option('arrivals', { choices: ['constant', 'poisson'] as const, default: 'constant' as const, describe: 'open loop (--rate): constant gaps, or Poisson arrivals with that mean rate' })
          .option('duration', { alias: 'd', type: 'number', describe: 'seconds to measure (default 10 unless --requests)' })
          .option('requests', { type: 'number', describe: 'requests to measure' })
          .option('warmup', { type: 'number', default: 1, describe: 'seconds of unmeasured warm-up' })
          .option('sweep', { type: 'string', describe: 'concurrency levels, e.g. 1,2,4,8' })
          .option('fps', { type: 'number', describe: 'images/s the verdict requires (PASS needs at least this throughput)' })
          .option('payload-bytes', { type: 'number', default: 0, describe: '--rpc ping: request payload' })
          .option('response-bytes', { type: 'number', default: 0, describe: '--rpc ping: response padding' })
          .option('transport', { choices: TRANSPORTS, describe: '--rpc ping and classify: h2 (default) = our own HTTP/2 client, node-http2 = Node\'s HTTP/2 client, grpc-js = the grpc-js channel; stream always uses grpc-js' })
          .option('path', { type: 'boolean', default: true, describe: 'per-hop decomposition: HTTP/2 PINGs alongside the calls (at most one per 10 ms per connection) and the edge\'s upstream time (--no-path: off)' }),
      async (a) => {
        const sweep = a.sweep ? a.sweep.split(',').map((x) => Number(x.trim())) : undefined;
        if (sweep && sweep.some((x) => !(x >= 1) || !Number.isInteger(x))) throw new UsageError(`--sweep must be positive integers like 1,2,4,8, got "${a.sweep}"`);
        checkNumbers(a, { ...CONNECTION_NUMBERS, ...VERDICT_NUMBERS, concurrency: 'count>=1', rate: '>0', 'rate-per-agent': '>0', agents: 'count>=1', 'agent-index': 'count>=0', duration: '>0', requests: 'count>=1', warmup: '>=0', fps: '>0', 'payload-bytes': 'count>=0', 'response-bytes': 'count>=0', 'top-k': 'count>=1' }, argv);
        const send = sendChoiceOf(a);
        if (a.rpc === 'ping' && send !== undefined) throw new UsageError('--client-resize is for --rpc classify and stream (--rpc ping sends no image)');
        const o = connOpts(a);
        const plan = agentPlanOf(a);
        const rate = plan.rate;
        if (sweep && rate !== undefined) throw new UsageError('--sweep is a closed-loop concurrency sweep; it takes no --rate');
        const files = a.rpc === 'ping' ? [] : await resolveImages({ images: a.images, imageSize: a['image-size'] });
        // Open loop without an explicit --concurrency: allow up to 256 in flight so the client is not the limit.
        const concurrency = rate !== undefined && !argv.some((x) => /^(--concurrency|-C)(=|$)/.test(x)) ? 256 : a.concurrency;
        const transport: TransportName = a.transport ?? (a.rpc === 'stream' ? 'grpc-js' : 'h2');
        if (transport !== 'grpc-js' && a.rpc === 'stream') throw new UsageError(`--transport ${transport} is for --rpc ping and classify (stream uses grpc-js)`);
        const guard = failureGuard(signal);
        code = await withConnection({ ...o, connections: a.connections }, async (c) => {
          const server = await serverInfo(c);
          // Before the start gate: a distributed run's agents start together, whatever their preparation took.
          const { images, request } = a.rpc === 'ping' ? { images: files, request: undefined } : await prepareImages(files, send, server, a['top-k']);
          const rep = newReport('bench', { ...settingsOf(a), concurrency, transport, ...(rate !== undefined ? { agentRate: rate } : {}) }, environment(c.target, server), started);
          const durationS = a.duration ?? (a.requests === undefined ? 10 : undefined);
          await gate(c, plan, rep, human, guard.signal);
          human.out(headerText({
            title: `bench ${a.rpc}`, target: c.target, transport, tls: o.tls, connections: a.connections, server: describeServer(server),
            images: a.rpc === 'ping' ? undefined : { ...imageSetOf({ images: a.images, imageSize: a['image-size'] }, files), request },
            payload: a.rpc === 'ping' ? { up: a['payload-bytes'], down: a['response-bytes'] } : undefined,
            load: { mode: sweep ? 'sweep' : rate !== undefined ? 'open' : 'closed', concurrency, rate, arrivals: a.arrivals, levels: sweep, durationS, count: a.requests, warmupS: a.warmup },
          }));
          const unaryTransport = transport === 'h2' ? h2Transport(o) : transport === 'node-http2' ? nodeHttp2Transport(o) : undefined;
          try {
            await unaryTransport?.ready(Math.max(3000, o.deadlineMs ?? 0));
            const tripped = await withPathPings(unaryTransport, o, a.path, async (path) => {
              const text = await runBench(c, { rpc: a.rpc, concurrency, rate, arrivals: a.arrivals, durationS, requests: a.requests, warmupS: a.warmup, topK: a['top-k'], payloadBytes: a['payload-bytes'], responseBytes: a['response-bytes'], sweep, budgetMs: a['budget-ms'], fps: a.fps, percentile: a.percentile, signal: guard.signal, guard, unaryTransport, path, connections: a.connections, request }, images, rep);
              if (reportTripped(guard, human)) return true;
              human.out(text);
              return false;
            });
            if (tripped) {
              emitReport(rep, a.json, io);
              return EXIT.RUNTIME;
            }
          } finally {
            unaryTransport?.close();
          }
          emitReport(rep, a.json, io);
          return loadRunExitCode(rep);
        });
      },
    )
    .command(
      'stream',
      'ClassifyStream at --fps with an in-flight --window: per-frame latency, late and dropped frames, verdict',
      (y) =>
        agentOptions(verdictOptions(imageOptions(connectionOptions(y))))
          .option('fps', { type: 'number', default: 15, describe: 'frames sent per second (and the rate the verdict requires)' })
          .option('window', { alias: 'w', type: 'number', default: 4, describe: 'frames in flight; a frame due when it is full is dropped' })
          .option('duration', { alias: 'd', type: 'number', describe: 'seconds (default 10 unless --frames)' })
          .option('frames', { type: 'number', describe: 'frames to send' })
          .option('warmup', { type: 'number', default: 1, describe: 'seconds of unmeasured warm-up' })
          .option('path', { type: 'boolean', default: true, describe: 'per-hop decomposition: HTTP/2 PINGs on a separate connection to the same peer (grpc-js streams cannot carry ours) (--no-path: off)' }),
      async (a) => {
        checkNumbers(a, { ...CONNECTION_NUMBERS, ...VERDICT_NUMBERS, agents: 'count>=1', 'agent-index': 'count>=0', fps: '>0', window: 'count>=1', duration: '>0', frames: 'count>=1', warmup: '>=0', 'top-k': 'count>=1' }, argv);
        const o = connOpts(a);
        // Each agent is one stream source at --fps (a stream's rate is a frame rate, not a share of a total).
        const plan = agentPlanOf(a);
        const send = sendChoiceOf(a);
        const guard = failureGuard(signal);
        const files = await resolveImages({ images: a.images, imageSize: a['image-size'] });
        code = await withConnection(o, async (c) => {
          const server = await serverInfo(c);
          const { images, request } = await prepareImages(files, send, server, a['top-k']);
          const rep = newReport('stream', settingsOf(a), environment(c.target, server), started);
          const durationS = a.duration ?? (a.frames === undefined ? 10 : undefined);
          await gate(c, plan, rep, human, guard.signal);
          human.out(headerText({
            title: 'stream', target: c.target, transport: 'grpc-js', tls: o.tls, connections: a.connections, server: describeServer(server),
            images: { ...imageSetOf({ images: a.images, imageSize: a['image-size'] }, files), request },
            load: { mode: 'stream', fps: a.fps, window: a.window, durationS, count: a.frames, warmupS: a.warmup },
          }));
          const text = await withPathPings(undefined, o, a.path, (path) =>
            runStream(c, { fps: a.fps, window: a.window, durationS, frames: a.frames, warmupS: a.warmup, topK: a['top-k'], budgetMs: a['budget-ms'], percentile: a.percentile, signal: guard.signal, guard, path, connections: a.connections, request }, images, rep),
          );
          if (reportTripped(guard, human)) {
            emitReport(rep, a.json, io);
            return EXIT.RUNTIME;
          }
          human.out(text);
          emitReport(rep, a.json, io);
          return loadRunExitCode(rep);
        });
      },
    )
    .command(
      'report <runs..>',
      'render RUN.json files into report.html + PNG charts (comparison when several; --merge: one run from several agents)',
      (y) =>
        y
          .positional('runs', { type: 'string', array: true, demandOption: true, describe: 'RUN.json files written by --json' })
          .option('out', { alias: 'o', type: 'string', default: 'out/report', describe: 'output directory (out/ is git-ignored)' })
          .option('merge', { type: 'boolean', default: false, describe: 'the runs are agents of one distributed run: add their histograms and series into one run (exact) and report it' })
          .option('json', { type: 'string', describe: '--merge: also write the merged run as a --json file ("-": stdout)' }),
      async (a) => {
        if (a.json !== undefined && !a.merge) throw new UsageError('--json goes with --merge (the merged run)');
        if (a.merge) {
          const files = a.runs as string[];
          const merged = mergeRuns(files.map((file) => ({ file, report: readReport(file) })), started);
          human.out(mergeText(merged));
          for (const w of merged.warnings) human.err(`warning: ${w}`);
          const out = await writeHtmlReport([{ file: 'merged', report: merged }], a.out);
          human.out(`wrote ${out.html}`);
          for (const p of out.pngs) human.out(`wrote ${p}`);
          emitReport(merged, a.json, io);
          return;
        }
        const runs = (a.runs as string[]).map((file) => ({ file, report: readReport(file) }));
        const files = await writeHtmlReport(runs, a.out);
        io.out(`wrote ${files.html}`);
        for (const p of files.pngs) io.out(`wrote ${p}`);
      },
    )
    .command('local', 'in-process mode (no network): `rtinfer local classify|bench --help`', () => undefined, () => {
      throw new UsageError('`local` is handled by bin/rtinfer.js; run it through the rtinfer command');
    })
    .demandCommand(1, 'give a verb: ping, classify, bench, stream, report, local')
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    })
    .help()
    .version('version', 'show the version of rtinfer', toolVersion())
    .wrap(Math.min(120, process.stdout.columns ?? 100));
  try {
    let helpShown = false;
    await parser.parseAsync(argv, {}, (_e, _argv, output) => {
      if (output) {
        helpShown = true;
        io.out(output);
      }
    });
    if (helpShown) return EXIT.OK;
    return code;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`usage error: ${e.message}\n(run with --help for usage)`);
      return EXIT.USAGE;
    }
    io.err(`error: ${describeError(e)}`);
    return EXIT.RUNTIME;
  }
}

/** Entry point: first Ctrl-C stops the run and reports what was measured, a second exits with 3. */
export function run(argv: string[]): void {
  const ac = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\ninterrupted: finishing in-flight requests and reporting (Ctrl-C again to quit)\n');
      ac.abort();
    } else process.exit(EXIT.INTERRUPTED);
  });
  main(argv, processIo, ac.signal).then(
    (c) => {
      process.exitCode = c;
      // grpc-js keeps timers alive briefly after close; do not hold the shell.
      setTimeout(() => process.exit(c), 100).unref();
    },
    (e) => {
      process.stderr.write(`error: ${describeError(e)}\n`);
      process.exit(EXIT.RUNTIME);
    },
  );
}

if (require.main === module) run(process.argv.slice(2));

export type { Verb };
