/**
 * The event loop before the compute threads (src/server/thread-priority.ts): every thread but the main one
 * is lowered to the given nice value, threads that appear later are found on the next scan, and a thread an
 * operator has already lowered further is left alone. A fake /proc task directory and fake priority calls;
 * one check on this process's real threads where Linux allows it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { lowerComputeThreads } from '../src/server/thread-priority';

describe('compute threads below the event loop', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasks-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const thread = (tid: number): void => fs.mkdirSync(path.join(dir, String(tid)));

  it('lowers every thread but the main one to the offset below it, and leaves one already lower alone', () => {
    for (const t of [100, 101, 102, 103]) thread(t);
    const nice = new Map<number, number>([[100, -2], [101, -2], [102, 0], [103, 10]]);
    const h = lowerComputeThreads(5, { taskDir: dir, mainTid: 100, getPriority: (t) => nice.get(t) ?? 0, setPriority: (t, n) => void nice.set(t, n) });
    h?.stop();
    expect(Object.fromEntries(nice), '5 levels below the main thread').to.deep.equal({ 100: -2, 101: 3, 102: 3, 103: 10 });
    expect(h?.lowered()).to.equal(3);
  });

  it('a thread that ends between the listing and the call is skipped without an error', () => {
    thread(100);
    thread(101);
    const h = lowerComputeThreads(5, { taskDir: dir, mainTid: 100, getPriority: (t) => { if (t === 100) return 0; throw new Error('ESRCH'); }, setPriority: () => undefined });
    h?.stop();
    expect(h?.lowered()).to.equal(0);
  });

  it('0 turns it off; a value outside 0..19 is refused with its name', () => {
    expect(lowerComputeThreads(0, { taskDir: dir })).to.equal(undefined);
    expect(() => lowerComputeThreads(-1, { taskDir: dir })).to.throw(/nice offset.*0\.\.19/);
    expect(() => lowerComputeThreads(2.5, { taskDir: dir })).to.throw(/nice offset/);
  });

  it('on Linux, this process\'s other threads end up 3 levels below the main thread, which keeps its own', function () {
    if (!fs.existsSync('/proc/self/task')) this.skip();
    const mainBefore = os.getPriority(process.pid);
    const others = fs.readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
    const before = new Map(others.map((t) => [t, os.getPriority(t)]));
    const h = lowerComputeThreads(3);
    h?.stop();
    try {
      expect(os.getPriority(process.pid)).to.equal(mainBefore);
      for (const t of others) {
        try {
          expect(os.getPriority(t)).to.equal(Math.max(Math.min(19, mainBefore + 3), before.get(t)!));
        } catch (e) {
          if (!fs.existsSync(`/proc/self/task/${t}`)) continue; // ended meanwhile
          throw e;
        }
      }
    } finally {
      // Put this test process back as it was (lowering needs no privilege, raising does: best effort).
      for (const [t, n] of before) try { os.setPriority(t, n); } catch { /* ended, or not allowed */ }
    }
  });
});
