/**
 * Structured JSON logs through pino (@airlock/log): one object per line,
 * written asynchronously, with secret-named fields and secret-shaped values
 * redacted whatever the caller passed. Callers still pass only fields they
 * mean to log; redaction is the net under them, not a licence.
 */
import { createPino, lineDestination, scrubMessage } from '@airlock/log';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * `write` receives each line without its newline (tests capture with it);
 * without it, lines go to stdout through pino's asynchronous destination.
 */
export const createLogger = (service: string, level: LogLevel = 'info', write?: (line: string) => void): Logger => {
  const p = createPino({ service, level, ...(write ? { destination: lineDestination(write) } : {}) });
  const emit = (lvl: LogLevel) => (msg: string, fields: Record<string, unknown> = {}) => p[lvl](fields, scrubMessage(msg));
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
};

export const silentLogger: Logger = createLogger('silent', 'error', () => {});
