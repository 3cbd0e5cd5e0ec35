/**
 * Stale enrollments expire (issue 22). An enrollment nobody decided on before
 * its approval deadline was only ever *shown* as expired; the row kept its
 * waiting status, so every list and every /metrics scrape filtered more of
 * them each day. The sweeper marks them expired, in batches, on a timer.
 */
import { expireWaitingEnrollments } from '../store/enrollment-expiry.ts';
import type { Deps } from './deps.ts';

const BATCH = 1000;

/** One sweep: batches until none is left (bounded per call). Returns how many expired. */
export const expireStaleEnrollments = async (deps: Pick<Deps, 'db' | 'clock' | 'metrics'>, maxBatches = 100): Promise<number> => {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await expireWaitingEnrollments(deps.db, deps.clock.now(), BATCH);
    total += n;
    if (n < BATCH) break;
  }
  // Counted as every audit row is (one decision `expired` each), so the metric and the trail agree.
  for (let i = 0; i < total; i++) deps.metrics?.observeAudit('enrollment.expired', {});
  return total;
};

/** Runs the sweep every `seconds` (0: never); returns the stop function. A failed sweep is logged and retried next time. */
export const startExpirySweeper = (deps: Deps, seconds: number): (() => void) => {
  if (seconds <= 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    expireStaleEnrollments(deps)
      .then((n) => {
        if (n > 0) deps.logger.info('enrollments expired', { count: n });
      })
      .catch((err: unknown) => deps.logger.warn('enrollment expiry sweep failed', { error: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        running = false;
      });
  }, seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
};
