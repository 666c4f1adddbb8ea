// The engine's log: one line per event, as text for a person or JSON for a
// machine, on stderr so stdout stays free for what a command prints.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'text' | 'json';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/**
 * The engine's log for one build: every warning is also kept in `said`, to
 * travel to the build with its next reply, so a user sees it whether the
 * engine's own log is their terminal, a file, or another machine's.
 */
export function buildLogger(log: Logger, said: string[]): Logger {
  return {
    ...log,
    warn: (event, fields = {}) => {
      log.warn(event, fields);
      const { host, ...rest } = fields;
      const details = Object.entries(rest).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
      said.push(`${host ? `${host}: ` : ''}${event}${details.length ? ` (${details.join('; ')})` : ''}`);
    },
  };
}

function textLine(level: LogLevel, event: string, fields: LogFields): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`);
  const time = new Date().toISOString().slice(11, 23);
  return `${time} ${level.padEnd(5)} ${event}${parts.length ? ' ' + parts.join(' ') : ''}`;
}

export function createLogger(level: LogLevel, format: LogFormat, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const emit = (at: LogLevel) => (event: string, fields: LogFields = {}) => {
    if (RANK[at] < RANK[level]) return;
    write(format === 'json' ? JSON.stringify({ time: new Date().toISOString(), level: at, event, ...fields }) : textLine(at, event, fields));
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const LOG_LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
export const LOG_FORMATS: LogFormat[] = ['text', 'json'];
