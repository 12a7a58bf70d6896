/**
 * The impairment proxy (impair-proxy.ts) as a process of its own, two ways:
 *  - by hand: node dist/src/lab/impair-proxy-cli.js --target 127.0.0.1:8000 --delay-ms 5 --jitter-ms 1
 *    --jitter normal --bandwidth 1000000 [--drop-after-bytes N] [--drop-after-ms N] [--drop-probability P]
 *    [--max-drops N] [--port N] [--config FILE]; prints the loopback port it listens on. With --config,
 *    the file's JSON impairment ({"delayMs", "jitterMs", "jitterDistribution", "bandwidthBytesPerS"}, both
 *    directions) replaces the flags' at start and again on every SIGHUP: the lab changes a running path's
 *    delay that way, without dropping the connections through it;
 *  - with --ipc, as the child that forkImpairProxy starts and drives over IPC.
 */
import * as fs from 'node:fs';
import { setPriority } from 'node:os';
import { startImpairProxy, type DirectionImpairment, type ImpairProxy, type ImpairProxyOptions, type IpcReply, type IpcRequest, type IpcStart, type JitterDistribution } from './impair-proxy';

/** The command line's options (see the usage at the top), both directions impaired alike. */
export function parseProxyArgs(argv: string[]): ImpairProxyOptions {
  const get = (k: string): string | undefined => {
    const i = argv.indexOf(`--${k}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (k: string): number | undefined => (get(k) === undefined ? undefined : Number(get(k)));
  const t = get('target') ?? '127.0.0.1:8000';
  const m = /^(.*):(\d+)$/.exec(t);
  if (!m) throw new Error(`--target host:port (got ${t})`);
  const dir: DirectionImpairment = {
    delayMs: num('delay-ms'),
    jitterMs: num('jitter-ms'),
    jitterDistribution: (get('jitter') as JitterDistribution | undefined) ?? 'normal',
    bandwidthBytesPerS: num('bandwidth'),
  };
  return {
    target: { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) },
    listenPort: num('port'),
    up: dir,
    down: dir,
    dropAfterBytes: num('drop-after-bytes'),
    dropAfterMs: num('drop-after-ms'),
    dropProbability: num('drop-probability'),
    maxDrops: num('max-drops'),
  };
}

/**
 * A real network path does not slow down when the hosts at either end are busy; on a 2-core machine
 * shared with benchmarks an ordinary-priority proxy does (its release timers wake late under heavy load,
 * docs/decisions/0004-measurement-fidelity-pitfalls.md). Raise its priority when allowed (root / CAP_SYS_NICE); otherwise
 * carry on, and the lateness figures in stats() show what that cost.
 */
function raisePriority(): void {
  try {
    setPriority(-10);
  } catch {
    // not permitted: ordinary priority
  }
}

function serveIpc(): void {
  let proxy: ImpairProxy | undefined;
  raisePriority();
  process.on('message', (m: IpcRequest | IpcStart) => {
    const reply = (r: IpcReply): void => void process.send?.(r);
    if (m.op === 'start') {
      startImpairProxy(m.options).then(
        (p) => {
          proxy = p;
          reply({ ready: p.port });
        },
        (e: unknown) => {
          process.stderr.write(`impair proxy: ${String(e)}\n`);
          process.exit(1);
        },
      );
      return;
    }
    if (!proxy) return reply({ id: m.id, error: 'not started' });
    if (m.op === 'configure') proxy.configure(Object.fromEntries(Object.entries(m.config).map(([k, v]) => [k, v === null ? undefined : v])));
    else if (m.op === 'resetStats') proxy.resetStats();
    else if (m.op === 'close') {
      void proxy.close().then(() => {
        reply({ id: m.id });
        process.exit(0);
      });
      return;
    }
    reply({ id: m.id, result: m.op === 'stats' ? proxy.stats() : undefined });
  });
  // The parent going away (test killed) takes the proxy with it.
  process.on('disconnect', () => process.exit(0));
}

const IMPAIRMENT_KEYS = ['delayMs', 'jitterMs', 'jitterDistribution', 'bandwidthBytesPerS'];

/** A --config file's impairment; throws naming the file and what is wrong with it. */
export function readImpairmentFile(file: string): DirectionImpairment {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`--config ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`--config ${file}: not a JSON object`);
  const o = parsed as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !IMPAIRMENT_KEYS.includes(k));
  if (unknown.length > 0) throw new Error(`--config ${file}: unknown keys ${unknown.join(', ')} (known: ${IMPAIRMENT_KEYS.join(', ')})`);
  for (const k of ['delayMs', 'jitterMs', 'bandwidthBytesPerS']) {
    if (o[k] !== undefined && (typeof o[k] !== 'number' || !Number.isFinite(o[k]) || (o[k] as number) < 0)) throw new Error(`--config ${file}: ${k} must be a number ≥ 0`);
  }
  if (o.jitterDistribution !== undefined && o.jitterDistribution !== 'normal' && o.jitterDistribution !== 'uniform') throw new Error(`--config ${file}: jitterDistribution is 'normal' or 'uniform'`);
  return o as DirectionImpairment;
}

function serveCommandLine(argv: string[]): void {
  raisePriority();
  const options = parseProxyArgs(argv);
  const i = argv.indexOf('--config');
  const configFile = i >= 0 ? argv[i + 1] : undefined;
  if (configFile) options.up = options.down = readImpairmentFile(configFile);
  startImpairProxy(options).then(
    (p) => {
      if (configFile) {
        // A bad file on reload keeps the impairment in force and says why; the path stays up.
        process.on('SIGHUP', () => {
          try {
            const dir = readImpairmentFile(configFile);
            p.configure({ up: dir, down: dir });
            process.stdout.write(`impair-proxy: reconfigured ${JSON.stringify(dir)}\n`);
          } catch (e) {
            process.stderr.write(`impair-proxy: ${e instanceof Error ? e.message : String(e)}; kept the previous impairment\n`);
          }
        });
      }
      process.stdout.write(`impair-proxy listening on 127.0.0.1:${p.port}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) {
  if (process.argv.includes('--ipc')) serveIpc();
  else serveCommandLine(process.argv.slice(2));
}
