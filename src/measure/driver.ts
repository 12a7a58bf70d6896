/**
 * The seam between a load phase (load-phase.ts) and the driver that decides when requests leave
 * (closed-loop.ts, open-loop.ts): perf_analyzer's load manager split from its profiler. Times are phase
 * time, ns since the phase started.
 */
/** Why a phase stopped issuing. */
export type EndReason = 'duration' | 'requests' | 'interrupted' | 'drain-timeout';

/** What a phase offers its driver. */
export interface PhaseControl {
  /** Issuing stops once a request would start at or after this time (Infinity: no limit). */
  readonly durationNs: number;
  /** Most requests the phase may take (Infinity: no limit). */
  readonly requests: number;
  now(): number;
  /** Starts the next request in `slot`; intended for `intendedNs` (default: now, as a closed loop means). */
  send(slot: number, intendedNs?: number): void;
  /** A paced request skipped because every slot was busy. */
  drop(): void;
  /** Requests sent so far in this phase. */
  sentCount(): number;
  inFlight(): number;
  /** Stops issuing (the first reason given wins); calls in flight are still awaited. */
  stop(reason: EndReason): void;
  stopped(): boolean;
  /** Waits until phase time `atNs`; returns early when issuing stops. `idle`: see Timebase.sleepUntil. */
  sleepUntil(atNs: number, idle: () => boolean): Promise<void>;
}

export interface Driver {
  /** Sends the first requests (and, open loop, starts pacing). */
  start(): void;
  /** The call in `slot` ended at `endNs` and has been recorded; the slot is free. */
  ended(slot: number, endNs: number): void;
  /** Requests the driver holds but has not sent yet (the open loop's client-side backlog). */
  waiting(): number;
}
