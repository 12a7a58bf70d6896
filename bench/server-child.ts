/**
 * The server as a child process for benchmarks, so client and server never share an event loop. Resolves
 * once the server logs "ready" (model warm, health SERVING) with its ephemeral port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const SERVER = path.join(__dirname, '..', 'src', 'server', 'main.js');

export interface ServerChild {
  port: number;
  proc: ChildProcess;
  /** SIGTERM, resolved on exit. */
  stop(): Promise<void>;
}

export function startServerChild(args: string[], env: Record<string, string> = {}, readyTimeoutMs = 120_000): Promise<ServerChild> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [SERVER, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let buf = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not become ready in ${readyTimeoutMs / 1000} s: ${buf.slice(-2000)}`));
    }, readyTimeoutMs);
    proc.stderr!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"msg":"ready","port":(\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        proc.stderr!.removeAllListeners('data');
        proc.stderr!.resume();
        resolve({
          port: Number(m[1]),
          proc,
          stop: () => new Promise<void>((r) => {
            proc.once('exit', () => r());
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before ready: ${buf.slice(-2000)}`));
    });
  });
}
