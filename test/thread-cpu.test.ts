import * as fs from 'node:fs';
import { expect } from 'chai';
import { sampleThreads, statTicks, threadSplit, type ThreadSample } from '../bench/thread-cpu';

describe('thread CPU split (bench:perf: where the server\'s CPU goes)', function () {
  it('reads utime + stime even when the thread name holds spaces and parentheses', function () {
    // Fields after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const line = '4242 (ort (x) y) S 1 4242 4242 0 -1 4194368 100 0 0 0 250 17 0 0 20 0 9 0 100 0 0';
    expect(statTicks(line)).to.equal(267);
    expect(() => statTicks('garbage')).to.throw(/unreadable stat line/);
  });

  it('splits a window into event loop, inference (ort-*) and other threads, in core-%', function () {
    const at = (ms: number, t: Array<[number, string, number]>): ThreadSample =>
      ({ atMs: ms, threads: new Map(t.map(([tid, name, ticks]) => [tid, { name, ticks }])) });
    const before = at(0, [[100, 'node', 1000], [101, 'node', 50], [102, 'ort-worker-1', 400], [103, 'ort-solo', 10], [104, 'node', 5]]);
    // 2 s later: event loop +20 ticks, a V8 helper +6, worker +180, solo unchanged, 104 ended, 105 new pool thread +14.
    const after = at(2000, [[100, 'node', 1020], [101, 'node', 56], [102, 'ort-worker-1', 580], [103, 'ort-solo', 10], [105, 'node', 14]]);
    const s = threadSplit(before, after, 100);
    expect(s.window_s).to.equal(2);
    expect(s.event_loop).to.be.closeTo(10, 1e-9);
    expect(s.inference).to.be.closeTo(90, 1e-9);
    expect(s.other).to.be.closeTo(10, 1e-9);
    expect(s.total).to.be.closeTo(110, 1e-9);
  });

  it('samples a live process from /proc (Linux)', function () {
    if (!fs.existsSync(`/proc/${process.pid}/task`)) {
      console.log('      skipped: no /proc (Linux only)');
      this.skip();
    }
    const s = sampleThreads(process.pid);
    expect(s.threads.has(process.pid), 'the main thread is listed').to.equal(true);
    expect(s.threads.get(process.pid)?.ticks).to.be.a('number').and.at.least(0);
  });
});
