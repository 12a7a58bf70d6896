import { expect } from 'chai';
import { cpuPlan, resolveCpuPlan } from '../src/backends/cpu-plan';
import { pickInstance } from '../src/backends/onnxruntime';

describe('CPU sharing plan', function () {
  it('one core: one single-thread session and no solo session', function () {
    expect(cpuPlan(1)).to.include({ instances: 1, threads: 1, soloThreads: 0 });
  });

  it('2 to 8 cores: one single-thread instance a core, and a solo session with every core', function () {
    for (const n of [2, 4, 8]) expect(cpuPlan(n), `${n} cores`).to.include({ instances: n, threads: 1, soloThreads: n });
  });

  it('past 8 cores: at most 8 instances, each with more threads, never more threads than cores', function () {
    for (const n of [9, 16, 24, 64]) {
      const p = cpuPlan(n);
      expect(p.instances, `${n} cores`).to.be.at.most(8);
      expect(p.instances * p.threads, `${n} cores`).to.be.at.most(n).and.above(n / 2);
      expect(p.soloThreads).to.equal(n);
    }
  });

  it('a flag turns the plan off: the rest take plain defaults', function () {
    expect(resolveCpuPlan(2, { threads: 2 })).to.include({ instances: 1, threads: 2, soloThreads: 0 });
    expect(resolveCpuPlan(4, { instances: 2 })).to.include({ instances: 2, threads: 2, soloThreads: 0 });
    expect(resolveCpuPlan(2, { soloThreads: 0 })).to.include({ instances: 1, threads: 2, soloThreads: 0 });
    expect(resolveCpuPlan(2, {}).reason).to.match(/2 cores/);
  });

  it('a batch that finds nothing running goes to the solo session; otherwise to the least busy instance', function () {
    expect(pickInstance([0, 0, 0], true), 'idle: solo (last)').to.equal(2);
    expect(pickInstance([0, 0, 1], true), 'solo busy: first instance').to.equal(0);
    expect(pickInstance([1, 0, 1], true)).to.equal(1);
    expect(pickInstance([1, 1, 0], true), 'never the solo session while anything runs').to.equal(0);
    expect(pickInstance([0, 0], false), 'no solo: lowest index').to.equal(0);
    expect(pickInstance([2, 1], false)).to.equal(1);
  });
});
