/**
 * One use of a site enrollment key, as the enroll statement's consuming
 * UPDATE (store/enrollments.ts createEnrollment), with the two alerts a
 * leaked `cek_` calls for (issue 18) computed from the key row alone: no scan
 * of enrollments or audit rows per enroll.
 *
 * - Uses high: the use that reaches 80% of `max_uses` (the 800th of 1000).
 *   `use_count` grows by exactly one per statement under the row lock, so
 *   exactly one statement ever sees that count: once per key, under races too.
 * - Use burst: uses are counted per 10-minute bucket (aligned to the epoch);
 *   `burst_baseline` is the trailing average of uses per bucket, an
 *   exponential moving average with an hour's horizon (weight 1/6 per bucket,
 *   empty buckets decaying it), frozen at the bucket's start. The alert fires
 *   on the use that makes the bucket's count reach max(N, 10 x baseline), with
 *   N = AIRLOCK_SITE_KEY_BURST_USES: once per bucket at most, again exactly
 *   one statement, because the threshold is fixed within the bucket.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { AuditEventInput } from './audit.ts';
import { at, insertAuditRows } from './rows.ts';

const BURST_BUCKET_SECONDS = 600;
/** Weight of the bucket just ended in the trailing average: six buckets, one hour. */
const DECAY = 5 / 6;
/** Buckets of silence after which the average is zero anyway (5/6^200 ≈ 1e-16). */
const MAX_DECAY_STEPS = 200;

/** The 10-minute bucket `now` falls in. */
const burstBucket = (now: Date): number => Math.floor(now.getTime() / 1000 / BURST_BUCKET_SECONDS);

/**
 * The consuming UPDATE for a usable key (`usable`, a condition on alias `k`),
 * returning the key's id, whether its site auto-approves, and both alert
 * flags with the figures their audit rows carry. `burstUses` null: no burst alert.
 */
export const consumeSiteKeyUse = (usable: SQL, now: Date, burstUses: number | null): SQL => {
  const bucket = burstBucket(now);
  return sql`update site_enrollment_keys k set
      use_count = k.use_count + 1,
      last_used_at = ${at(now)},
      burst_bucket = ${bucket}::bigint,
      burst_bucket_uses = case when k.burst_bucket = ${bucket}::bigint then k.burst_bucket_uses + 1 else 1 end,
      burst_baseline = case
        when k.burst_bucket = ${bucket}::bigint then k.burst_baseline
        when k.burst_bucket is null then 0
        else (k.burst_baseline * ${DECAY}::float8 + k.burst_bucket_uses * (1 - ${DECAY}::float8))
          * power(${DECAY}::float8, least(${bucket}::bigint - k.burst_bucket - 1, ${MAX_DECAY_STEPS})::float8)
      end
    where ${usable} and not exists (select 1 from foreign_agent)
    returning k.id, (select s.policy from sites s where s.code = k.site_code) = 'auto' as auto_approve,
      k.version, k.fingerprint, k.use_count, k.max_uses, k.burst_bucket_uses, k.burst_baseline,
      (k.max_uses is not null and k.use_count = ceil(k.max_uses * 0.8)::int) as uses_high,
      greatest(${burstUses ?? 0}::int, ceil(10 * k.burst_baseline)::int) as burst_threshold,
      (${burstUses !== null} and k.burst_bucket_uses = greatest(${burstUses ?? 0}::int, ceil(10 * k.burst_baseline)::int)) as use_burst`;
};

/**
 * The two alert rows as CTE bodies over `used` (the UPDATE above), each
 * written only when its flag is set; their details come from the key row.
 */
export const siteKeyAlertRows = (alerts: { usesHigh: AuditEventInput; burst: AuditEventInput }): { usesHigh: SQL; burst: SQL } => ({
  usesHigh: insertAuditRows(
    [
      {
        ...alerts.usesHigh,
        detailsExpr: sql`(select jsonb_build_object('version', used.version, 'fingerprint', used.fingerprint, 'use_count', used.use_count,
          'max_uses', used.max_uses, 'uses_left', used.max_uses - used.use_count) from used)`,
      },
    ],
    sql`exists (select 1 from used where used.uses_high)`,
  ),
  burst: insertAuditRows(
    [
      {
        ...alerts.burst,
        detailsExpr: sql`(select jsonb_build_object('version', used.version, 'fingerprint', used.fingerprint,
          'uses_in_bucket', used.burst_bucket_uses, 'bucket_minutes', ${BURST_BUCKET_SECONDS / 60}::int,
          'trailing_average_per_bucket', round(used.burst_baseline::numeric, 2), 'threshold', used.burst_threshold) from used)`,
      },
    ],
    sql`exists (select 1 from used where used.use_burst)`,
  ),
});
