/**
 * Memory retained by this process after a full garbage collection: the V8 heap plus the ArrayBuffers
 * (Node Buffers) outside it. `--expose-gc` is switched on at run time (v8.setFlagsFromString) and gc is
 * taken from a fresh context, so mocha needs no extra flag. For attacks whose cost is memory the server
 * holds: measured while the attack is in place, it counts what the server keeps, not allocator noise.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

export async function retainedBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    // Let finalizers and pending I/O callbacks release what they hold before the next pass.
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export const MiB = 1024 * 1024;
