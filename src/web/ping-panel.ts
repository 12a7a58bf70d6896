/**
 * The Ping panel: `count` Ping calls, one every `intervalMs` (a probe never waits for the previous reply,
 * as rtinfer ping), RTT = the browser's performance.now() around the gRPC-web call (so the browser's own
 * fetch and connect-web's framing are inside it: this is what a web app sees). Shown: RTT p50/p99 (nearest
 * rank, measure/stats.ts), jitter as mean |IPDV| and RFC 3550 (measure/jitter.ts; a lost probe breaks the
 * chain) and the lost probes.
 */
import { jitter } from '../measure/jitter';
import { nearestRank } from '../measure/stats';
import { describeFailure, type InferenceClient } from './client';

export interface PingFigures {
  sent: number;
  received: number;
  lost: number;
  rttP50Ms: number;
  rttP99Ms: number;
  meanAbsIpdvMs: number;
  rfc3550Ms: number;
  /** The first failure's "STATUS: message", when any probe failed. */
  error?: string;
}

export async function runPings(client: InferenceClient, count: number, intervalMs: number, deadlineMs: number, onUpdate: (f: PingFigures) => void): Promise<PingFigures> {
  const rtts: Array<number | null> = new Array<number | null>(count).fill(null);
  let received = 0;
  let done = 0;
  let error: string | undefined;
  const figures = (): PingFigures => {
    const ok = rtts.filter((x): x is number => x !== null);
    const j = jitter(rtts.slice(0, done));
    return { sent: done, received, lost: done - received, rttP50Ms: nearestRank(ok, 50), rttP99Ms: nearestRank(ok, 99), meanAbsIpdvMs: j.meanAbsIpdv, rfc3550Ms: j.rfc3550, error };
  };
  const t0 = performance.now();
  const calls: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const start = performance.now();
    calls.push(
      client.ping({ seq: BigInt(i), clientSendUnixNanos: BigInt(Math.round((performance.timeOrigin + start) * 1e6)) }, { timeoutMs: deadlineMs }).then(
        () => {
          rtts[i] = performance.now() - start;
          received++;
        },
        (err: unknown) => {
          error ??= describeFailure(err).text;
        },
      ).finally(() => {
        done = Math.max(done, i + 1);
        onUpdate(figures());
      }),
    );
  }
  await Promise.all(calls);
  done = calls.length;
  const f = figures();
  onUpdate(f);
  return f;
}
