/**
 * The edge's logger: @airlock/log (pino, JSON lines, redaction), its access
 * lines batched to stdout (at most 100 ms late) instead of a write each.
 * Callers pass only non-secret fields; bodies, pairing codes, keys, tokens
 * and unmatched request targets never reach here, and the shared redaction
 * (secret-named fields, secret-shaped values) is the net under that rule.
 */
import { createLogger as createAirlockLogger, type LineLogger, type ScalarFields } from '@airlock/log';

export type { LogLevel } from '@airlock/log';

/** Scalars only: the access line is built per request and must stay cheap to serialise. */
export type LogFields = ScalarFields;

export type Logger = LineLogger<LogFields>;

/** `write` receives each line with its newline, as before; default: stdout, batched. */
export const createLogger = (write?: (line: string) => void): Logger =>
  createAirlockLogger({
    service: 'edge',
    level: 'info',
    // The edge's `key`/`throttle_key` fields are Redis key names (prefix, site code, IP): operators
    // need them for `airlock lockouts clear`; a secret-shaped value would still be redacted.
    readableFields: ['key', 'throttle_key'],
    ...(write ? { write: (line: string) => write(`${line}\n`) } : { batchMs: 100 }),
  });

/** Keeps a header value loggable: printable ASCII only, bounded length. */
export const loggable = (value: string | undefined, max = 128): string | undefined =>
  value === undefined ? undefined : value.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
