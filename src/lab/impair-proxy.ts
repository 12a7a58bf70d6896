/**
 * A user-space TCP impairment proxy for measurement-fidelity tests (these machines have no netem).
 * Listens on 127.0.0.1 (loopback only, ephemeral port), forwards every accepted connection to `target`,
 * and impairs each direction independently:
 *
 *   link model, per chunk read from the sending socket (arrival time a, n bytes):
 *     tx_end  = max(a, previous tx_end) + n / B          (serialisation on a link of B bytes/s; none when B unset)
 *     due     = tx_end + D + X                           (fixed one-way delay D, variation X, X ≥ −D)
 *     release = max(due, previous release)               (TCP is a byte stream: never reorder)
 *
 * Why the `max` matters for jitter, and how the tests stay honest about it: a chunk whose sample is small
 * cannot overtake one with a larger sample, so when chunks are closer together than the spread of X the
 * delivered delay is max(own, predecessor's), biased upwards and with less variation than X. Two rules keep
 * the injected figure what the tests expect:
 *  - X is drawn per *burst*, not per chunk: chunks that arrive within `burstGapMs` (default 1 ms) of the
 *    previous chunk in the same direction reuse its sample. A gRPC message is usually 1–3 socket writes
 *    (HEADERS, DATA, trailers) in the same instant; per-chunk samples would give the message
 *    D + max(X1, X2, X3), which is not the distribution we claim to inject. Back-to-back packets also see
 *    correlated queueing delay on a real path, so this is the more realistic model too.
 *  - The tests space their probes far beyond the spread of X (interval ≥ 2.5 × the full range of X for
 *    uniform, > 8σ for normal), so the ordering constraint never binds and each probe's one-way delay is
 *    exactly D + X. docs/RELIABILITY.md derives the expected jitter figures from that.
 *
 * Timers: setTimeout has millisecond granularity and fires late under load, so a release is scheduled with
 * a timer until SPIN_NS before it is due; from then on one poller for the whole process (see `Releaser`)
 * checks every waiting lane once per event-loop turn and, between turns, sleeps in the kernel for at most
 * NAP_MAX_NS (Atomics.wait). Busy-polling with setImmediate instead starved the very client and server
 * being measured on 2 cores; the bounded sleep keeps release lateness small while using a fraction of a
 * core, and delays other I/O by at most NAP_MAX_NS (evidence: docs/decisions/0004-measurement-fidelity-pitfalls.md). With D = 0
 * and nothing else set, chunks are written straight from the 'data' handler. Sockets have noDelay (no Nagle).
 *
 * Drops (to test that a client counts what a dead connection cost it): a connection is destroyed (RST,
 * both sides) after `dropAfterBytes` bytes have crossed it, `dropAfterMs` after it was accepted, or with
 * probability `dropProbability` per forwarded chunk; `maxDrops` bounds how many connections are killed.
 *
 * Back-pressure: a direction holding more than `highWaterBytes` unreleased bytes pauses its source socket,
 * so a bandwidth-limited direction throttles the sender through TCP instead of growing the proxy's memory.
 *
 * Used in-process (startImpairProxy), in a child process of its own driven over IPC (forkImpairProxy, whose
 * child side is impair-proxy-cli.ts), or by hand from the command line (impair-proxy-cli.ts). Its own
 * statistics: impair-stats.ts.
 */
import { fork } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { mulberry32 } from '../shared/prng';
import { record, tally, type Tally } from './impair-stats';

export type JitterDistribution = 'uniform' | 'normal';

export interface DirectionImpairment {
  /** Fixed one-way delay D, ms. Default 0. */
  delayMs?: number;
  /** Standard deviation of the delay variation X, ms. Default 0. */
  jitterMs?: number;
  /** 'uniform': X ~ U(−√3σ, +√3σ); 'normal': X ~ N(0, σ²). Both clipped so that D + X ≥ 0. Default 'normal'. */
  jitterDistribution?: JitterDistribution;
  /** Link rate B in bytes per second; undefined = unlimited. */
  bandwidthBytesPerS?: number;
  /** Chunks arriving within this many ms of the previous chunk share its delay sample. Default 1. */
  burstGapMs?: number;
}

export interface ImpairProxyOptions {
  /** host:port to forward to. */
  target: { host: string; port: number };
  /** Loopback port to listen on; default 0 (ephemeral). The lab's edge config names a fixed one. */
  listenPort?: number;
  /** Client → target. */
  up?: DirectionImpairment;
  /** Target → client. */
  down?: DirectionImpairment;
  dropAfterBytes?: number;
  dropAfterMs?: number;
  /** Per forwarded chunk, either direction. */
  dropProbability?: number;
  /** Connections that may be dropped in total (default unlimited). */
  maxDrops?: number;
  /** Seed for the jitter and drop random numbers (reproducible runs). Default 1. */
  seed?: number;
  highWaterBytes?: number;
}

export interface DirectionStats {
  chunks: number;
  /** Delay samples drawn (one per burst of chunks, see burstGapMs). */
  bursts: number;
  bytes: number;
  /** Release time minus due time, ns: how late the proxy itself was (the timer error). */
  lateNs: Tally;
  /**
   * Release time minus arrival time, ns, per delayed chunk: the delay this proxy really added (D + X + its
   * own lateness). This, not the nominal D, is the ground truth a client's measurement is judged against:
   * a proxy that wakes late on a busy machine still knows exactly what it did.
   */
  heldNs: Tally;
}

export interface ImpairProxy {
  port: number;
  /** Replace the impairment (applies to chunks that arrive afterwards; connections stay up). */
  configure(o: Partial<Pick<ImpairProxyOptions, 'up' | 'down' | 'dropAfterBytes' | 'dropAfterMs' | 'dropProbability' | 'maxDrops'>>): void;
  stats(): { connections: number; drops: number; up: DirectionStats; down: DirectionStats };
  resetStats(): void;
  close(): Promise<void>;
}

/**
 * The last stretch before a release is polled rather than left to a timer: on a loaded machine timers wake
 * late by about a millisecond, so a margin of two keeps even the tail of release lateness small
 * (docs/decisions/0004-measurement-fidelity-pitfalls.md). Polling here means napping between event-loop turns (Releaser), not spinning.
 */
const SPIN_NS = 2e6;

const nowNs = (): number => Number(process.hrtime.bigint());

/** Longest blocking sleep between polls, ns: bounds how long other sockets' I/O can wait behind it. */
const NAP_MAX_NS = 0.05e6;
/** Futex waits on Linux overshoot by the thread's timer slack (50 µs by default); stop sleeping earlier. */
const NAP_SLACK_NS = 0.06e6;
const napCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * The one poller of this process: lanes whose next release is less than SPIN_NS away register here, and it
 * visits them once per event-loop turn (setImmediate, so sockets are served in between), napping in the
 * kernel when the nearest release is far enough away. One poller rather than one per lane so that naps of
 * several lanes never add up within a turn.
 */
class Releaser {
  private readonly waiting = new Set<Lane>();
  private scheduled = false;

  want(l: Lane): void {
    this.waiting.add(l);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.turn());
    }
  }

  private turn(): void {
    this.scheduled = false;
    const lanes = [...this.waiting];
    this.waiting.clear();
    for (const l of lanes) l.release(); // lanes with more to release soon call want() again
    if (this.waiting.size === 0) return;
    let next = Infinity;
    for (const l of this.waiting) next = Math.min(next, l.nextDueNs());
    const nap = Math.min(NAP_MAX_NS, next - nowNs() - NAP_SLACK_NS);
    if (nap > 0.02e6) Atomics.wait(napCell, 0, 0, nap / 1e6);
    this.scheduled = true;
    setImmediate(() => this.turn());
  }
}

const releaser = new Releaser();

const rng = mulberry32;

function sampler(d: DirectionImpairment, rand: () => number): () => number {
  const sigmaNs = (d.jitterMs ?? 0) * 1e6;
  const floorNs = -(d.delayMs ?? 0) * 1e6;
  if (!(sigmaNs > 0)) return () => 0;
  if ((d.jitterDistribution ?? 'normal') === 'uniform') {
    const half = Math.sqrt(3) * sigmaNs;
    return () => Math.max(floorNs, (2 * rand() - 1) * half);
  }
  // Box–Muller; the second value is discarded for simplicity (speed is irrelevant at these rates).
  return () => {
    const u1 = Math.max(rand(), 1e-12);
    const u2 = rand();
    return Math.max(floorNs, sigmaNs * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
  };
}

function emptyStats(): DirectionStats {
  return { chunks: 0, bursts: 0, bytes: 0, lateNs: tally(), heldNs: tally() };
}

interface Pending {
  data: Buffer;
  arrivalNs: number;
  dueNs: number;
}

/** One direction of one connection: from → to, through the link model above. */
class Lane {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private txEndNs = 0;
  private lastReleaseNs = 0;
  private lastArrivalNs = -Infinity;
  private sampleNs = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private paused = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly impairment: () => DirectionImpairment,
    private readonly draw: () => () => number,
    private readonly stats: () => DirectionStats,
    private readonly highWater: number,
    private readonly onBytes: (n: number) => boolean,
  ) {}

  push(data: Buffer): void {
    if (this.closed) return;
    if (!this.onBytes(data.length)) return; // the connection was dropped
    const d = this.impairment();
    const a = nowNs();
    const st = this.stats();
    st.chunks++;
    st.bytes += data.length;
    const b = d.bandwidthBytesPerS;
    const delayNs = (d.delayMs ?? 0) * 1e6;
    if (!b && delayNs === 0 && !((d.jitterMs ?? 0) > 0) && this.queue.length === 0) {
      this.to.write(data); // nothing to inject: the baseline path, no scheduling at all
      return;
    }
    // Large chunks on a slow link are cut into 16 KiB segments so the far end sees bytes trickle in at B
    // rather than in one lump after the whole chunk's serialisation time.
    const seg = b ? 16 * 1024 : data.length;
    const gapNs = (d.burstGapMs ?? 1) * 1e6;
    if (a - this.lastArrivalNs > gapNs) {
      this.sampleNs = this.draw()();
      st.bursts++;
    }
    this.lastArrivalNs = a;
    for (let off = 0; off < data.length; off += seg) {
      const part = data.subarray(off, Math.min(data.length, off + seg));
      const tx = b ? Math.max(a, this.txEndNs) + (part.length / b) * 1e9 : a;
      this.txEndNs = tx;
      const due = Math.max(tx + delayNs + this.sampleNs, this.lastReleaseNs);
      this.lastReleaseNs = due;
      this.queue.push({ data: part, arrivalNs: a, dueNs: due });
      this.queuedBytes += part.length;
    }
    if (this.queuedBytes > this.highWater && !this.paused) {
      this.paused = true;
      this.from.pause();
    }
    this.schedule();
  }

  nextDueNs(): number {
    return this.queue.length > 0 ? this.queue[0].dueNs : Infinity;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0 || this.closed) return;
    const left = this.queue[0].dueNs - nowNs();
    if (left > SPIN_NS + 0.5e6) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, Math.floor((left - SPIN_NS) / 1e6));
    } else {
      releaser.want(this);
    }
  }

  /** Writes every chunk that is due; called by the releaser. */
  release(): void {
    if (this.closed) return;
    const t = nowNs();
    const st = this.stats();
    while (this.queue.length > 0 && this.queue[0].dueNs <= t) {
      const p = this.queue.shift()!;
      this.queuedBytes -= p.data.length;
      record(st.lateNs, t - p.dueNs);
      record(st.heldNs, t - p.arrivalNs);
      this.to.write(p.data);
    }
    if (this.paused && this.queuedBytes <= this.highWater / 2) {
      this.paused = false;
      this.from.resume();
    }
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
  }
}

export async function startImpairProxy(o: ImpairProxyOptions): Promise<ImpairProxy> {
  let cfg: ImpairProxyOptions = { ...o };
  const rand = rng(o.seed ?? 1);
  let upSampler = sampler(cfg.up ?? {}, rand);
  let downSampler = sampler(cfg.down ?? {}, rand);
  let up = emptyStats();
  let down = emptyStats();
  let connections = 0;
  let drops = 0;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    connections++;
    const acceptedNs = nowNs();
    client.setNoDelay(true);
    const upstream = net.connect({ host: cfg.target.host, port: cfg.target.port });
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    let crossed = 0;
    let dead = false;
    let dropTimer: NodeJS.Timeout | undefined;

    const kill = (): void => {
      if (dead) return;
      dead = true;
      drops++;
      upLane.close();
      downLane.close();
      // resetAndDestroy sends RST: the peers see a connection failure, not an orderly close.
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    };
    const mayDrop = (): boolean => cfg.maxDrops === undefined || drops < cfg.maxDrops;
    const onBytes = (n: number): boolean => {
      if (dead) return false;
      crossed += n;
      if (cfg.dropAfterBytes !== undefined && crossed >= cfg.dropAfterBytes && mayDrop()) {
        kill();
        return false;
      }
      if (cfg.dropProbability && rand() < cfg.dropProbability && mayDrop()) {
        kill();
        return false;
      }
      return true;
    };
    const hw = o.highWaterBytes ?? 4 * 1024 * 1024;
    const upLane = new Lane(client, upstream, () => cfg.up ?? {}, () => upSampler, () => up, hw, onBytes);
    const downLane = new Lane(upstream, client, () => cfg.down ?? {}, () => downSampler, () => down, hw, onBytes);
    if (cfg.dropAfterMs !== undefined && mayDrop()) {
      dropTimer = setTimeout(() => mayDrop() && kill(), Math.max(0, cfg.dropAfterMs - (nowNs() - acceptedNs) / 1e6));
    }

    client.on('data', (d: Buffer) => upLane.push(d));
    upstream.on('data', (d: Buffer) => downLane.push(d));
    const end = (): void => {
      if (dropTimer) clearTimeout(dropTimer);
      upLane.close();
      downLane.close();
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listenPort ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    configure(c) {
      cfg = { ...cfg, ...c };
      upSampler = sampler(cfg.up ?? {}, rand);
      downSampler = sampler(cfg.down ?? {}, rand);
    },
    stats: () => ({ connections, drops, up, down }),
    resetStats() {
      up = emptyStats();
      down = emptyStats();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The proxy in a child process of its own, driven over IPC. Fidelity tests use this: in the test's process
 * the proxy's release timers would wait behind the client's and the server's JavaScript, an order of
 * magnitude later than in a process of its own (docs/decisions/0004-measurement-fidelity-pitfalls.md).
 */
export interface RemoteImpairProxy {
  port: number;
  pid: number;
  configure(c: Parameters<ImpairProxy['configure']>[0]): Promise<void>;
  stats(): Promise<ReturnType<ImpairProxy['stats']>>;
  resetStats(): Promise<void>;
  close(): Promise<void>;
}

/** The IPC protocol between forkImpairProxy and its child (impair-proxy-cli.ts --ipc). */
export type IpcOp = { op: 'configure'; config: Parameters<ImpairProxy['configure']>[0] } | { op: 'stats' | 'resetStats' | 'close' };
export type IpcRequest = IpcOp & { id: number };
export type IpcStart = { id: 0; op: 'start'; options: ImpairProxyOptions };
export type IpcReply = { id: number; result?: unknown; error?: string } | { ready: number };

/** The child's entry point; compiled next to this file. */
const CLI = path.join(__dirname, 'impair-proxy-cli.js');

export function forkImpairProxy(o: ImpairProxyOptions): Promise<RemoteImpairProxy> {
  const child = fork(CLI, ['--ipc'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let nextId = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const call = (req: IpcOp): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      child.send({ ...req, id });
    });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      for (const w of waiting.values()) w.reject(new Error(`impair proxy exited (${code})`));
      reject(new Error(`impair proxy exited (${code}) before it listened`));
    });
    child.on('message', (m: IpcReply) => {
      if ('ready' in m) {
        resolve({
          port: m.ready,
          pid: child.pid ?? 0,
          // IPC is JSON: an explicit `undefined` ("remove this setting") would vanish, so it travels as null.
          configure: async (config) => void (await call({ op: 'configure', config: JSON.parse(JSON.stringify(config, (_k, v: unknown) => (v === undefined ? null : v))) as typeof config })),
          stats: async () => (await call({ op: 'stats' })) as ReturnType<ImpairProxy['stats']>,
          resetStats: async () => void (await call({ op: 'resetStats' })),
          close: async () => {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            await call({ op: 'close' }).catch(() => undefined);
            await exited;
          },
        });
        return;
      }
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve(m.result);
    });
    const start: IpcStart = { id: 0, op: 'start', options: o };
    child.send(start);
  });
}
