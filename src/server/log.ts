/**
 * Server logs on stderr, one record a line: JSON ({"time","level","msg",...fields}) for machines, or a
 * human-readable line (time, level, message, then key=value fields) for a person at a terminal.
 * `--log-format auto` picks text when stderr is a TTY and JSON otherwise (a pipe, a file, a container's log
 * driver), so whatever collects logs always gets JSON.
 * Our own small module rather than pino/winston: we need levels, fields, two renderings and one sink, and a
 * dependency for that would outweigh the code. stderr keeps stdout free for anything a tool pipes.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Default 'auto': text when stderr is a TTY, else JSON. */
  format?: LogFormat;
  /** Fields added to every record. */
  base?: LogFields;
  /** Where lines go (each ends with '\n'); default stderr. */
  sink?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** 'auto' → text on a terminal, JSON anywhere else. */
export function resolveLogFormat(format: LogFormat, isTTY: boolean = process.stderr.isTTY === true): 'text' | 'json' {
  if (format === 'auto') return isTTY ? 'text' : 'json';
  return format;
}

export function createLogger(level: LogLevel = 'info', o: LoggerOptions = {}): Logger {
  const min = RANK[level];
  const base = o.base ?? {};
  const sink = o.sink ?? ((line: string) => process.stderr.write(line));
  const render = resolveLogFormat(o.format ?? 'auto') === 'text' ? textLine : jsonLine;
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    sink(render(new Date(), lvl, msg, { ...base, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger(level, { ...o, base: { ...base, ...f } }),
  };
}

function jsonLine(time: Date, level: string, msg: string, fields: LogFields): string {
  return JSON.stringify({ time: time.toISOString(), level, msg, ...fields }, jsonSafe) + '\n';
}

/** Past this width the fields go on an indented second line, so the message stays readable on its own. */
const TEXT_WIDTH = 120;

/** `08:25:05.215 INFO  message  key=value …`: local time of day, the level padded so messages line up. */
function textLine(time: Date, level: string, msg: string, fields: LogFields): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}.${pad(time.getMilliseconds(), 3)}`;
  const head = `${clock} ${level.toUpperCase().padEnd(5)} ${msg}`;
  const kv = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`)
    .join(' ');
  if (kv === '') return `${head}\n`;
  return head.length + 2 + kv.length <= TEXT_WIDTH ? `${head}  ${kv}\n` : `${head}\n    ${kv}\n`;
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v, jsonSafe) ?? String(v);
}

/** bigint (our nanosecond stamps) and Error are not JSON by default. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
