/** Where the benchmarks write their JSON: out/bench-<name>-<date>.json with the machine they ran on. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

export function writeBenchJson(name: string, rows: unknown[]): string {
  const out = path.join(ROOT, 'out', `bench-${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine: { nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version }, rows }, null, 2));
  process.stdout.write(`wrote ${out}\n`);
  return out;
}
