/**
 * JSON-lines logging to stdout. Callers pass only non-secret fields; bodies,
 * pairing codes, keys, tokens and unmatched request targets never reach here.
 */
export type LogLevel = 'info' | 'warn' | 'error';

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  log: (level: LogLevel, msg: string, fields?: LogFields) => void;
}

export const createLogger = (write: (line: string) => void = (l) => process.stdout.write(l)): Logger => ({
  log: (level, msg, fields = {}) => {
    write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
  },
});

/** Keeps a header value loggable: printable ASCII only, bounded length. */
export const loggable = (value: string | undefined, max = 128): string | undefined =>
  value === undefined ? undefined : value.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
