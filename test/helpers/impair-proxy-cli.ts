/**
 * The impairment proxy (impair-proxy.ts) as a process of its own, two ways:
 *  - by hand: node dist/test/helpers/impair-proxy-cli.js --target 127.0.0.1:8000 --delay-ms 5 --jitter-ms 1
 *    --jitter normal --bandwidth 1000000 [--drop-after-bytes N] [--drop-after-ms N] [--drop-probability P]
 *    [--max-drops N]; prints the loopback port it listens on;
 *  - with --ipc, as the child that forkImpairProxy starts and drives over IPC.
 */
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
    up: dir,
    down: dir,
    dropAfterBytes: num('drop-after-bytes'),
    dropAfterMs: num('drop-after-ms'),
    dropProbability: num('drop-probability'),
    maxDrops: num('max-drops'),
  };
}

function serveIpc(): void {
  let proxy: ImpairProxy | undefined;
  // A real network path does not slow down when the hosts at either end are busy; on a 2-core machine
  // shared with benchmarks an ordinary-priority proxy does (its release timers wake late under heavy load,
  // docs/decisions/0004-measurement-fidelity-pitfalls.md). Raise its priority when allowed (root / CAP_SYS_NICE); otherwise
  // carry on, and the lateness figures in stats() show what that cost.
  try {
    setPriority(-10);
  } catch {
    // not permitted: ordinary priority
  }
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

if (require.main === module) {
  if (process.argv.includes('--ipc')) serveIpc();
  else
    startImpairProxy(parseProxyArgs(process.argv.slice(2))).then(
      (p) => process.stdout.write(`impair-proxy listening on 127.0.0.1:${p.port}\n`),
      (err: unknown) => {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
}
