/**
 * The one pino setup both apps log through: JSON lines, an asynchronous
 * destination (a slow stdout never stalls a request), ISO timestamps, level
 * names, and redaction that does not trust callers to remember what is secret.
 *
 * @example
 *   const log = createPino({ service: 'api', level: 'info' });
 *   log.info({ route: '/x', token: 'cak_…' }, 'request'); // token → "[redacted]"
 */
import { destination, pino, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type PinoLevel = 'debug' | 'info' | 'warn' | 'error';

export const REDACTED = '[redacted]';

/**
 * Field names (any depth, compared lower-case, split on `_`, `-` and `.`) whose
 * last word says secret. `code` covers pairing codes; a site code or an error
 * code is named so and stays readable.
 */
const SECRET_WORDS = new Set([
  'authorization',
  'cookie',
  'cookies',
  'key',
  'token',
  'password',
  'passphrase',
  'secret',
  'code',
  'signature',
  'csr',
  'credentials',
  'credential',
  'pem',
]);
// Named so on purpose: identifiers, not secrets (a Redis key name, an error code).
const READABLE_NAMES = new Set(['site_code', 'other_site_code', 'error_code', 'status_code', 'redis_key', 'lockout_key']);

export const isSecretFieldName = (name: string, readable: ReadonlySet<string> = READABLE_NAMES): boolean => {
  const lower = name.toLowerCase();
  if (readable.has(lower)) return false;
  const words = lower.split(/[_\-.]/);
  const last = words[words.length - 1] ?? '';
  return SECRET_WORDS.has(last) || words.includes('private') || lower === 'set-cookie';
};

/** Values that are secrets whatever their field is called: Airlock's own prefixes and PEM/OpenSSH blocks. */
const SECRET_VALUE = /(?:cak|cek|ept|aop)_[A-Za-z0-9_-]{8,}|-----BEGIN [A-Z ]+-----|BEGIN SSH SIGNATURE/;

/**
 * Field names come from code, so a busy process asks about the same few
 * dozen on every line (the edge's access line has 15): remember each answer
 * per readable set. Bounded, because a nested object from elsewhere could
 * bring names without end; past the bound, names are simply checked again.
 */
const NAME_CACHE_MAX = 1_024;
const nameVerdicts = new WeakMap<ReadonlySet<string>, Map<string, boolean>>();
const secretName = (name: string, readable: ReadonlySet<string>): boolean => {
  let known = nameVerdicts.get(readable);
  if (known === undefined) {
    known = new Map();
    nameVerdicts.set(readable, known);
  }
  const hit = known.get(name);
  if (hit !== undefined) return hit;
  const verdict = isSecretFieldName(name, readable);
  if (known.size < NAME_CACHE_MAX) known.set(name, verdict);
  return verdict;
};

const scrub = (value: unknown, depth: number, readable: ReadonlySet<string>): unknown => {
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? REDACTED : value;
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, readable));
  if (value instanceof Error) return { name: value.name, message: scrub(value.message, depth + 1, readable) };
  const out: Record<string, unknown> = {};
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue;
    const v = (value as Record<string, unknown>)[k];
    // Absent optional fields cost nothing: JSON would drop them anyway.
    if (v === undefined) continue;
    out[k] = secretName(k, readable) ? REDACTED : scrub(v, depth + 1, readable);
  }
  return out;
};

/** Applies the redaction rules to one log object (exported for tests). */
export const redactFields = (fields: Record<string, unknown>, readable: ReadonlySet<string> = READABLE_NAMES): Record<string, unknown> =>
  scrub(fields, 0, readable) as Record<string, unknown>;

export interface PinoOptions {
  service?: string;
  level: PinoLevel;
  /** Where lines go; default: stdout through an asynchronous sonic-boom destination. */
  destination?: DestinationStream;
  /**
   * Default destination only: gather lines up to 4 KiB, written at the
   * latest every `ms`, instead of one write per line. For a process that
   * logs a line per request (the edge's access log): one write for a dozen
   * lines. A line waits at most `ms`; pino flushes what is held on exit.
   */
  batchMs?: number;
  /**
   * Field names this app uses for something that is not a secret although
   * the name says otherwise (the edge's `key`: a Redis key name). Their
   * values are still checked for secret shapes.
   */
  readableFields?: readonly string[];
}

export const createPino = (opts: PinoOptions): PinoLogger => {
  const readable = new Set([...READABLE_NAMES, ...(opts.readableFields ?? []).map((f) => f.toLowerCase())]);
  return pino(
    {
      level: opts.level,
      base: opts.service ? { service: opts.service } : null,
      timestamp: stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactFields(obj, readable),
      },
      // Belt and braces for the usual header spots, should a caller ever log headers.
      redact: {
        paths: ['headers.authorization', 'headers.cookie', 'req.headers.authorization', 'req.headers.cookie'],
        censor: REDACTED,
      },
    },
    // Asynchronous: pino flushes it synchronously on process exit.
    opts.destination ??
      destination(
        opts.batchMs === undefined
          ? { dest: 1, sync: false, minLength: 0 }
          : { dest: 1, sync: false, minLength: 4_096, periodicFlush: opts.batchMs },
      ),
  );
};

/** A destination handing each line (without its newline) to a function: test capture, synchronous. */
export const lineDestination = (write: (line: string) => void): DestinationStream => ({
  write: (chunk: string) => {
    for (const line of chunk.split('\n')) if (line) write(line);
  },
});

/** Messages are redacted by value too: a message never carries a secret-shaped string. */
export const scrubMessage = (msg: string): string => (SECRET_VALUE.test(msg) ? REDACTED : msg);

export type LogLevel = PinoLevel;

/** Fields of a log line: what the edge's hot path passes (scalars only, no nested objects to walk). */
export type ScalarFields = Record<string, string | number | boolean | null | undefined>;

/**
 * The one-method shape (`log(level, msg, fields)`) the edge and the tunnel
 * pass around; a test can stand in for it with a plain function.
 */
export interface LineLogger<F = Record<string, unknown>> {
  log(level: LogLevel, msg: string, fields?: F): void;
}

/** A logger with a method per level as well (the api's shape). */
export interface Logger extends LineLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  /** The `service` field of every line (`api`, `edge`, `tunnel`). */
  service: string;
  level?: LogLevel;
  /**
   * Receives each line without its newline, synchronously (tests capture
   * with it). Without it, lines go to stdout through pino's asynchronous
   * destination, batched when `batchMs` is set.
   */
  write?: (line: string) => void;
  /** See PinoOptions.batchMs: for a process that logs a line per request. */
  batchMs?: number;
  /** See PinoOptions.readableFields. */
  readableFields?: readonly string[];
}

/**
 * The logger every app uses: JSON lines through pino, secret-named fields
 * and secret-shaped values (in fields and in the message) redacted whatever
 * the caller passed. Callers still pass only fields they mean to log;
 * redaction is the net under them, not a licence. Methods are bound: pass
 * `logger.log` around as a function.
 *
 * @example
 *   const logger = createLogger({ service: 'tunnel' });
 *   logger.log('info', 'tunnel listening', { port: 2222 });
 *   logger.warn('api away', { reason: 'ECONNREFUSED' });
 */
export const createLogger = (opts: LoggerOptions): Logger => {
  const p = createPino({
    service: opts.service,
    level: opts.level ?? 'info',
    ...(opts.readableFields ? { readableFields: opts.readableFields } : {}),
    ...(opts.write ? { destination: lineDestination(opts.write) } : opts.batchMs !== undefined ? { batchMs: opts.batchMs } : {}),
  });
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => p[level](fields, scrubMessage(msg));
  return {
    log,
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
};

/** Writes nothing; for tests and tools that have no use for the lines. */
export const silentLogger: Logger = createLogger({ service: 'silent', level: 'error', write: () => {} });
