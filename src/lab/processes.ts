/**
 * The lab's long-running processes (wireguard-go, servers, proxies, the edge): started detached inside a
 * namespace with their output in a log file, so they outlive `lab up`; recorded with their kernel start
 * time, so `down` (even after a crash, from the state file) never signals a process that merely reuses a
 * recorded PID.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { nsOf, type HostName } from './topology';

export interface LabProcess {
  /** What it is, e.g. "server-a", "wireguard-go@edge". */
  role: string;
  host: HostName;
  pid: number;
  /** /proc/PID/stat field 22 (start time in clock ticks since boot). */
  startTicks: number;
  log: string;
  command: string[];
}

/** Start time of a live PID, or undefined when it does not exist. */
export function startTicksOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

export function isAlive(p: Pick<LabProcess, 'pid' | 'startTicks'>): boolean {
  const t = startTicksOf(p.pid);
  if (t !== p.startTicks) return false;
  // A zombie has exited: it is only waiting for its parent to reap it.
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

export function startIn(host: HostName, role: string, command: string[], log: string, env: NodeJS.ProcessEnv = process.env): LabProcess {
  const fd = fs.openSync(log, 'a');
  try {
    // `ip netns exec` enters the namespace and execs the command: the PID we get is the command's own.
    const child = spawn('ip', ['netns', 'exec', nsOf(host), ...command], { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${command[0]} in ${nsOf(host)}`);
    const startTicks = startTicksOf(child.pid);
    if (startTicks === undefined) throw new Error(`${role} (${command.join(' ')}) exited at once; see ${log}`);
    return { role, host, pid: child.pid, startTicks, log, command };
  } finally {
    fs.closeSync(fd);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `p` has exited (true) or `ms` passed (false). */
export async function waitExit(p: Pick<LabProcess, 'pid' | 'startTicks'>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(p)) {
    if (Date.now() >= until) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM, then SIGKILL after `graceMs`; only when the PID is still the process we started. */
export async function stopProcess(p: Pick<LabProcess, 'pid' | 'startTicks'>, graceMs = 5_000): Promise<void> {
  if (!isAlive(p)) return;
  signal(p, 'SIGTERM');
  if (await waitExit(p, graceMs)) return;
  signal(p, 'SIGKILL');
  await waitExit(p, 5_000);
}

export function signal(p: Pick<LabProcess, 'pid' | 'startTicks'>, sig: NodeJS.Signals): void {
  if (!isAlive(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // exited in between
  }
}

/** Resolves when `pattern` appears in the file, rejects after `ms` or when `alive()` turns false. */
export async function waitForLine(file: string, pattern: RegExp, ms: number, alive: () => boolean, what: string): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = pattern.exec(text);
    if (m) return m[0];
    if (!alive()) throw new Error(`${what} exited before it was ready; last lines of ${file}:\n${text.split('\n').slice(-15).join('\n')}`);
    if (Date.now() >= until) throw new Error(`${what} not ready within ${ms} ms; last lines of ${file}:\n${text.split('\n').slice(-15).join('\n')}`);
    await sleep(100);
  }
}
