/**
 * gRPC status code names (the numbers are fixed by the gRPC spec), so src/measure can name outcomes
 * without depending on a transport. Code −1 is ours: the client dropped the work before sending it.
 */
export const STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? `CODE_${code}`;
}
