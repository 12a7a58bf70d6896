/**
 * One error type for everything the service reports to clients. Handlers throw (or reject with) a
 * ServiceError carrying the gRPC status it should become; anything else that escapes is an internal bug
 * and is reported as INTERNAL with a generic message, its `cause` kept for the log but never sent.
 */
import { status } from '@grpc/grpc-js';
import { ImageError } from '../models/preprocess';

export class ServiceError extends Error {
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ServiceError';
  }
}

export const invalidArgument = (msg: string, cause?: unknown): ServiceError =>
  new ServiceError(status.INVALID_ARGUMENT, msg, { cause });
export const resourceExhausted = (msg: string): ServiceError => new ServiceError(status.RESOURCE_EXHAUSTED, msg);
export const deadlineExceeded = (msg: string): ServiceError => new ServiceError(status.DEADLINE_EXCEEDED, msg);
export const cancelled = (msg: string): ServiceError => new ServiceError(status.CANCELLED, msg);
export const unavailable = (msg: string): ServiceError => new ServiceError(status.UNAVAILABLE, msg);


/**
 * Normalises anything caught into what a client may see. Unknown errors become INTERNAL with a message
 * that does not leak internals (paths, stack); `internal` is true so the caller logs the cause.
 */
export function toStatus(err: unknown): { code: status; message: string; internal: boolean } {
  if (err instanceof ServiceError) return { code: err.code, message: err.message, internal: false };
  if (err instanceof ImageError) return { code: status.INVALID_ARGUMENT, message: err.message, internal: false };
  return { code: status.INTERNAL, message: 'internal error while serving the request (see the server log)', internal: true };
}

/** A short description of any thrown value for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
