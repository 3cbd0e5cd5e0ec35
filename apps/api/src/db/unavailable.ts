/**
 * Tells "the database is not there right now" apart from a bug. Such errors
 * are answered 503 service_unavailable (retry later), never 500: a Postgres
 * restart or failover is an outage of a dependency, not a fault of the api.
 * Detected by the driver's own codes, walking the `cause` chain because
 * drizzle wraps the postgres.js error.
 */

/** Socket-level failures Node reports while connecting or talking to Postgres. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** postgres.js's own codes for a connection it lost or could not make. */
const DRIVER_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

/**
 * SQLSTATEs of an unavailable server: class 08 (connection exception),
 * 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many
 * connections).
 */
const isUnavailableSqlState = (code: string): boolean =>
  code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';

const codeOf = (err: object): string | null => {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
};

/**
 * @example
 *   isDatabaseUnavailable(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })); // true
 */
export const isDatabaseUnavailable = (err: unknown): boolean => {
  let current: unknown = err;
  // A bounded walk: a cyclic cause chain must not hang the error path.
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const code = codeOf(current);
    if (code !== null && (SOCKET_CODES.has(code) || DRIVER_CODES.has(code) || isUnavailableSqlState(code))) return true;
    // AggregateError (a dual-stack connect that failed on every address) carries its reasons in `errors`.
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
};

/**
 * Postgres broke a lock cycle (40P01 deadlock_detected) or refused a
 * serialisable commit (40001): the transaction was rolled back whole, so
 * nothing changed and the same request, sent again, can succeed. Answered
 * 503 with a short Retry-After, like an outage, never a 500. Lock order is
 * kept the same on every path that takes several row locks (see
 * store/agents.ts), so this is the rare interleaving that order cannot rule
 * out, not a normal outcome.
 *
 * @example
 *   isTransactionConflict(Object.assign(new Error('x'), { code: '40P01' })); // true
 */
export const isTransactionConflict = (err: unknown): boolean => {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const code = codeOf(current);
    if (code === '40P01' || code === '40001') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
};
