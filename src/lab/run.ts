/**
 * Running the system tools the lab is built from (ip, tc, nft, wg, openssl …): synchronously, with the
 * command and its stderr in the error, so a failed step says exactly what the kernel or tool refused.
 */
import { spawnSync } from 'node:child_process';
import { nsOf, type HostName } from './topology';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly status: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${status === null ? 'killed' : `exit ${status}`}): ${stderr.trim() || '(no output)'}`);
  }
}

export interface RunOptions {
  input?: string;
  /** Return the failure instead of throwing (for clean-up steps that may find nothing to remove). */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], o: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { input: o.input, encoding: 'utf8', env: o.env ?? process.env, timeout: 60_000 });
  const res: RunResult = { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  if (r.status !== 0 && !o.allowFail) throw new CommandError([cmd, ...args].join(' '), r.status, res.stderr);
  return res;
}

/** The same command inside a lab host's namespace. */
export function runIn(host: HostName, cmd: string, args: string[], o: RunOptions = {}): RunResult {
  return run('ip', ['netns', 'exec', nsOf(host), cmd, ...args], o);
}
