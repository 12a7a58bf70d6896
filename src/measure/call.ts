/**
 * One call as the load drivers see it: an issuer starts request `seq` in `slot` and reports its end exactly
 * once with a CallOutcome. Nothing here knows gRPC or models, so the remote client's issuers and the
 * in-process local mode plug into the same drivers.
 */
import type { ServerTiming } from './timing';

export interface CallOutcome {
  /** The slot the call ran in, as given to the IssueFn. */
  slot: number;
  /** gRPC status code; 0 = OK. */
  code: number;
  /** Serialized request bytes sent (gRPC/HTTP2 framing excluded). */
  bytesUp: number;
  /** Serialized response bytes received. */
  bytesDown: number;
  /** Images the call classified (0 for ping and for failed calls). */
  images: number;
  /** The server's own timing breakdown, when the response carries one. */
  serverTiming: ServerTiming | undefined;
  /** Status details of a failed call. */
  details: string | undefined;
  /** The replica that answered (the response's server_id); undefined when the response names none. */
  replica: string | undefined;
}

/** Called by the issuer when a call ends; reads the outcome synchronously and keeps no reference to it. */
export type DoneFn = (outcome: CallOutcome) => void;

/** Starts request number `seq` in `slot` and calls `done` exactly once when it ends. */
export type IssueFn = (slot: number, seq: number, done: DoneFn) => void;

/**
 * One outcome object per slot, for issuers to fill and pass to `done`. A slot has one call in flight at a
 * time and `done` keeps nothing, so the slot's object is free again when `done` returns: reusing it keeps
 * the hot loop from allocating an object per call (the client's garbage is part of every measured number).
 */
export function outcomesPerSlot(slots: number): CallOutcome[] {
  return Array.from({ length: slots }, (_, slot) => ({ slot, code: 0, bytesUp: 0, bytesDown: 0, images: 0, serverTiming: undefined, details: undefined, replica: undefined }));
}
