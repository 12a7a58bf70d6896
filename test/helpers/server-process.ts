/**
 * The real server (`node dist/src/server/main.js`, what `npm start` runs) in a child process, for tests and
 * benchmarks that must not share an event loop or a heap with the server: benchmarks and fidelity (the
 * client's and the server's timers would queue behind each other) and soak (the test's own heap must not
 * count as the server's RSS). Resolves once the server logs "ready" (model warm, health SERVING) with its
 * ephemeral port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const SERVER_MAIN = path.resolve(__dirname, '..', '..', 'src', 'server', 'main.js');

export interface ServerProcessOptions {
  /** Node flags before the script (e.g. --expose-gc). */
  nodeArgs?: string[];
  /** How long the model may take to load and warm before we give up (SIGKILL). Default 120 s. */
  timeoutMs?: number;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Parsed JSON log lines so far. */
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  exit: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * `args` go after `--port 0 --host 127.0.0.1 --log-level info --drain-delay-ms 0`, each of which a caller may replace; the "ready"
 * line this waits for is logged at info, so a higher --log-level never becomes ready.
 */
export function startServerProcess(args: string[], o: ServerProcessOptions = {}): Promise<ServerProcess> {
  // A flag given twice would reach yargs as an array: the caller's value replaces the default instead.
  const defaults = [['--port', '0'], ['--host', '127.0.0.1'], ['--log-level', 'info'], ['--drain-delay-ms', '0']].filter(([flag]) => !args.includes(flag)).flat();
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), SERVER_MAIN, ...defaults, ...args], {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let partial = '';
  const lines: Array<Record<string, unknown>> = [];
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timeoutMs = o.timeoutMs ?? 120_000;

  return new Promise<ServerProcess>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`server not ready within ${timeoutMs} ms:\n${err.slice(-4000)}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => fail(new Error(`server exited (${code ?? signal}) before it was ready:\n${err.slice(-4000)}`)));
    child.once('error', (e) => fail(e));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      partial += d.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (!l.startsWith('{')) continue;
        let rec: Record<string, unknown>;
        try {
          rec = JSON.parse(l) as Record<string, unknown>;
        } catch {
          continue; // a non-JSON line from a dependency
        }
        lines.push(rec);
        if (rec.msg === 'ready' && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve({
            child,
            port: Number(rec.port),
            lines,
            stderr: () => err,
            exit,
            async stop(graceMs = 15_000) {
              if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
              child.kill('SIGTERM');
              const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
              const code = await exit;
              clearTimeout(kill);
              return code;
            },
          });
        }
      }
    });
  });
}
