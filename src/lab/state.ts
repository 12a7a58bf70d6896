/**
 * The state file: what a lab is made of, written after every step of `up`, so that `down` removes
 * exactly that even when `up` or the processes it started were killed half-way.
 */
import * as fs from 'node:fs';
import type { LabProcess } from './processes';
import type { EdgeKind } from './requirements';
import { stateFile } from './topology';

/** What `up` was asked for: a second `up` compares against it to decide what to change in place. */
export interface LabOptions {
  edge: EdgeKind;
  /** Flags passed through to both servers (e.g. --model … --normalize signed). */
  serverArgs: string[];
  rateMbit?: number;
  delayMs?: number;
  jitterMs?: number;
}

export interface LabState {
  format: 1;
  dir: string;
  options: LabOptions;
  namespaces: string[];
  processes: LabProcess[];
  /** Set once the edge answers. */
  ready: boolean;
}

export function readState(): LabState | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(), 'utf8')) as LabState;
    return s.format === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

export function writeState(s: LabState): void {
  const tmp = `${stateFile()}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(s, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, stateFile());
}
