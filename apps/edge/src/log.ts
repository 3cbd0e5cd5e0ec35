/**
 * JSON-lines logging through pino (@airlock/log), asynchronous to stdout.
 * Callers pass only non-secret fields; bodies, pairing codes, keys, tokens and
 * unmatched request targets never reach here, and the shared redaction
 * (secret-named fields, secret-shaped values) is the net under that rule.
 */
import { createPino, lineDestination, scrubMessage } from '@airlock/log';

export type LogLevel = 'info' | 'warn' | 'error';

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  log: (level: LogLevel, msg: string, fields?: LogFields) => void;
}

/** `write` receives each line with its newline, as before; default: stdout, asynchronously. */
export const createLogger = (write?: (line: string) => void): Logger => {
  const p = createPino({
    service: 'edge',
    level: 'info',
    // The edge's `key`/`throttle_key` fields are Redis key names (prefix, site code, IP): operators
    // need them for `airlock lockouts clear`; a secret-shaped value would still be redacted.
    readableFields: ['key', 'throttle_key'],
    // One access line per request: stdout gets them in batches (at most 100 ms late), not a write each.
    ...(write ? { destination: lineDestination((line) => write(`${line}\n`)) } : { batchMs: 100 }),
  });
  return { log: (level, msg, fields = {}) => p[level](fields, scrubMessage(msg)) };
};

/** Keeps a header value loggable: printable ASCII only, bounded length. */
export const loggable = (value: string | undefined, max = 128): string | undefined =>
  value === undefined ? undefined : value.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
