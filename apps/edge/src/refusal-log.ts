/**
 * Throttle refusals (a spent budget, a lockout, a block) logged per
 * (client IP, rule) and interval instead of one line each (issue 24): a
 * flood must not become a flood of log lines. The first refusal of a pair in
 * an interval is logged in full (the access line, and the warning for a
 * lockout or a block); the rest are counted, and when the interval ends one
 * `refusals` line gives the count (docs/operations.md, "Logs").
 * EDGE_REFUSAL_LOG_INTERVAL_MS=0 logs every refusal in full, as before.
 */
import type { Logger } from './log.ts';

/** Pairs tracked per interval; beyond it, refusals of new pairs are counted under one line. */
const MAX_PAIRS = 10_000;

interface Pair {
  ip: string;
  rule: string;
  route: string;
  status: number;
  /** Refusals after the first, not logged one by one. */
  suppressed: number;
}

export interface RefusalLog {
  /** true: log this refusal in full (the first of its pair in the interval). */
  first(ip: string, rule: string, route: string, status: number): boolean;
  /** Writes the pending summaries now (on shutdown). */
  flush(): void;
  close(): void;
}

export const createRefusalLog = (logger: Logger, intervalMs: number): RefusalLog => {
  if (intervalMs <= 0) return { first: () => true, flush: () => undefined, close: () => undefined };
  let pairs = new Map<string, Pair>();
  let overflow = 0;
  const seconds = intervalMs / 1000;
  const flush = (): void => {
    const done = pairs;
    pairs = new Map();
    for (const p of done.values()) {
      if (p.suppressed === 0) continue;
      logger.log('info', 'refusals', { ip: p.ip, rule: p.rule, route: p.route, status: p.status, count: p.suppressed, seconds });
    }
    if (overflow > 0) logger.log('warn', 'refusals', { ip: 'other', rule: 'other', count: overflow, seconds, pairs: MAX_PAIRS });
    overflow = 0;
  };
  const timer = setInterval(flush, intervalMs);
  timer.unref();
  return {
    first: (ip, rule, route, status) => {
      const key = `${ip}\n${rule}`;
      const known = pairs.get(key);
      if (known !== undefined) {
        known.suppressed += 1;
        return false;
      }
      if (pairs.size >= MAX_PAIRS) {
        overflow += 1;
        return false;
      }
      pairs.set(key, { ip, rule, route, status, suppressed: 0 });
      return true;
    },
    flush,
    close: () => {
      clearInterval(timer);
      flush();
    },
  };
};
