/**
 * Stops a load run whose first calls all fail the same way. That is a setup mistake (wrong method on
 * this server, a file that is not an image, a missing token), not a measurement: without this, a bench
 * sent the same bad request for its whole duration and printed percentiles of nothing.
 * docs/decisions/0012-connect-failures-named-by-one-probe.md says why 20.
 *
 * Only the start of a run is judged: once one call has succeeded, or two different errors have been
 * seen, the guard stands down for good, so overload errors in the middle of a run (RESOURCE_EXHAUSTED
 * from an open loop beyond capacity) stay data, as they must.
 */
import type { CallOutcome, DoneFn, IssueFn } from '../measure/call';
import { statusName } from '../shared/grpc-status';

/**
 * Identical failures, and no success, that stop a run. Large enough that a server warming up (a few
 * UNAVAILABLE while it loads) or a window of in-flight calls failing together at concurrency up to 16
 * does not trip it; small enough that the stop comes within a second at any realistic rate.
 */
export const IDENTICAL_FAILURES_TO_STOP = 20;

export interface Tripped {
  /** "STATUS: details" of the failure every call had. */
  error: string;
  count: number;
}

export interface FailureGuard {
  /** Aborts when the caller's signal does or when the guard trips: pass it to the load phase. */
  readonly signal: AbortSignal;
  /** The issuer's IssueFn, with every outcome seen by the guard first. */
  wrap(issue: IssueFn): IssueFn;
  tripped(): Tripped | undefined;
}

export function failureGuard(outer?: AbortSignal, limit = IDENTICAL_FAILURES_TO_STOP): FailureGuard {
  const ac = new AbortController();
  if (outer) {
    if (outer.aborted) ac.abort();
    else outer.addEventListener('abort', () => ac.abort(), { once: true });
  }
  let judging = true;
  let firstCode = -1; // not a status code: read only once the first failure has set it (count > 0)
  let firstDetails: string | undefined;
  let count = 0;
  let trip: Tripped | undefined;

  const see = (o: CallOutcome): void => {
    if (!judging) return;
    if (o.code === 0 || (count > 0 && (o.code !== firstCode || o.details !== firstDetails))) {
      judging = false;
      return;
    }
    if (count === 0) {
      firstCode = o.code;
      firstDetails = o.details;
    }
    if (++count >= limit) {
      judging = false;
      trip = { error: `${statusName(firstCode)}: ${firstDetails ?? ''}`, count };
      ac.abort();
    }
  };

  return {
    signal: ac.signal,
    wrap(issue: IssueFn): IssueFn {
      // The drivers pass the same DoneFn to every call: wrap it once, not once a call (no garbage per call).
      let inner: DoneFn | undefined;
      let wrapped: DoneFn = () => undefined;
      return (slot, seq, done) => {
        if (done !== inner) {
          inner = done;
          wrapped = (o) => {
            see(o);
            done(o);
          };
        }
        issue(slot, seq, wrapped);
      };
    },
    tripped: () => trip,
  };
}
