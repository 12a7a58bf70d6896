/**
 * The real server (`node dist/src/server/main.js`, what `npm start` runs) in a child process, for tests that
 * must not share an event loop or a heap with the server: fidelity (the client's and the server's timers
 * would queue behind each other) and soak (the test's own heap must not count as the server's RSS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const SERVER_MAIN = path.resolve(__dirname, '..', '..', 'src', 'server', 'main.js');

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

export async function startServerProcess(args: string[], o: { nodeArgs?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), SERVER_MAIN, '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let partial = '';
  const lines: Array<Record<string, unknown>> = [];
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      if (!l.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // a non-JSON line from a dependency
      }
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const t0 = Date.now();
  const timeoutMs = o.timeoutMs ?? 60_000;
  for (;;) {
    const ready = lines.find((l) => l.msg === 'ready');
    if (ready) {
      const port = Number(ready.port);
      return {
        child,
        port,
        lines,
        stderr: () => err,
        exit,
        async stop(graceMs = 5000) {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const code = await exit;
          clearTimeout(timer);
          return code;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode} before it was ready:\n${err}`);
    if (Date.now() - t0 > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`server not ready within ${timeoutMs} ms:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
