/**
 * The figures shown while a run goes on, from each answered frame: rolling p50/p99 of the last 50 frames'
 * send → answer time (measure/stats.ts nearest rank, as every percentile of ours), achieved fps over the
 * last second, frames dropped, and frame jitter — mean |IPDV| and RFC 3550's estimate (measure/jitter.ts)
 * over consecutive frames, a failed frame breaking the chain. The run's final figures replace them at the
 * end (main.ts), from the run's own recorder.
 */
import { jitter, type JitterResult } from '../measure/jitter';
import { nearestRank } from '../measure/stats';
import type { FrameEvent } from './frame-run';

const ROLLING = 50;

export interface LiveFigures {
  p50Ms: number;
  p99Ms: number;
  fps: number;
  jitter: JitterResult;
  ok: number;
  failed: number;
}

export interface LiveStats {
  add(e: FrameEvent, nowMs: number): LiveFigures;
  /** Send → answer times of this phase's frames in send order (null: failed), for the frame jitter. */
  jitterNow(): JitterResult;
  reset(): void;
}

export function createLiveStats(): LiveStats {
  let bySeq: Array<number | null> = [];
  let recent: number[] = [];
  let answers: number[] = [];
  let ok = 0;
  let failed = 0;
  const jitterNow = (): JitterResult => jitter(bySeq.filter((x) => x !== undefined));
  return {
    add(e, nowMs): LiveFigures {
      bySeq[e.seq] = e.error ? null : e.e2eMs;
      if (e.error) failed++;
      else {
        ok++;
        recent.push(e.e2eMs);
        if (recent.length > ROLLING) recent.shift();
        answers.push(nowMs);
      }
      while (answers.length > 0 && answers[0] < nowMs - 1000) answers.shift();
      return { p50Ms: nearestRank(recent, 50), p99Ms: nearestRank(recent, 99), fps: answers.length, jitter: jitterNow(), ok, failed };
    },
    jitterNow,
    reset(): void {
      bySeq = [];
      recent = [];
      answers = [];
      ok = 0;
      failed = 0;
    },
  };
}
