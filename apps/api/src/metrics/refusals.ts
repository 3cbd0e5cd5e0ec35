/**
 * In-process counter of refusals that concern no real site, enrollment or
 * agent (the ones aggregated into audit_refusal_counts). The one place the
 * ops side reads from to expose it through Prometheus, e.g. as
 * `airlock_api_anonymous_refusals_total{kind="enroll.invalid"}`.
 *
 * @example
 *   anonymousRefusals.inc('admin.unauthorized');
 *   anonymousRefusals.snapshot(); // { 'admin.unauthorized': 1 }
 */
export const ANONYMOUS_REFUSALS_METRIC = 'airlock_api_anonymous_refusals_total';

const counts = new Map<string, number>();

export const anonymousRefusals = {
  inc(kind: string): void {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  },
  /** Counts per kind since the process started. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(counts);
  },
  total(): number {
    let n = 0;
    for (const v of counts.values()) n += v;
    return n;
  },
};
