/**
 * How ONNX Runtime on CPU shares the cores with the rest of the server (decoding, gRPC), chosen from the core
 * count when no flag says otherwise. Measured on 2 cores, reasoned beyond: docs/decisions/0026-cpu-sharing-plan.md.
 */

export interface CpuPlan {
  /** Sessions that run batches side by side, each in its own worker. */
  instances: number;
  /** Intra-op threads of each of those sessions. */
  threads: number;
  /** Threads of the extra session used when no other batch runs (0 = none). */
  soloThreads: number;
  /** One line for the start-up log. */
  reason: string;
}

/**
 * Narrow instances keep every core busy under load without intra-op barriers (a thread preempted by a decode
 * stalls the whole batch on its siblings); the solo session gives a lone request every core, so latency at
 * low load is what one wide session gives. Past 8 cores each instance takes more threads so the model is not
 * held in memory more than 8 + 1 times.
 */
export function cpuPlan(cores: number): CpuPlan {
  const n = Math.max(1, Math.floor(cores));
  if (n === 1) return { instances: 1, threads: 1, soloThreads: 0, reason: '1 core: one single-thread session' };
  const threads = Math.ceil(n / 8);
  const instances = Math.floor(n / threads);
  return {
    instances,
    threads,
    soloThreads: n,
    reason: `${n} cores: ${instances} session(s) × ${threads} thread(s) run batches side by side under load; ` +
      `a ${n}-thread session runs a batch that finds nothing else running`,
  };
}

/** The plan with any explicitly given value taken as is; giving any of them turns the others to their plain defaults. */
export function resolveCpuPlan(cores: number, given: { instances?: number; threads?: number; soloThreads?: number }): CpuPlan {
  if (given.instances === undefined && given.threads === undefined && given.soloThreads === undefined) return cpuPlan(cores);
  const instances = given.instances ?? 1;
  const threads = given.threads ?? Math.max(1, Math.floor(cores / instances));
  const soloThreads = given.soloThreads ?? 0;
  return { instances, threads, soloThreads, reason: `set by flags: ${instances} session(s) × ${threads} thread(s)${soloThreads > 0 ? `, solo session ${soloThreads} threads` : ''}` };
}
