/**
 * The expiry sweeper's statement (issue 22): enrollments still marked waiting
 * whose decision deadline passed become `expired`, a batch at a time, each
 * with its `enrollment.expired` audit row, in one statement. Found through the
 * partial deadline index (migration 0008), so the work is the stale rows,
 * never the table; SKIP LOCKED lets two api processes sweep side by side
 * without waiting on each other or expiring a row twice.
 */
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { at } from './rows.ts';

export const expireWaitingEnrollments = async (db: Executor, now: Date, batch: number): Promise<number> => {
  const rows = await db.execute<{ n: number }>(sql`
    with stale as (
      select id from enrollments
      where status in ('awaiting_approval', 'pending_confirmation') and approval_expires_at <= ${at(now)}
      order by approval_expires_at
      limit ${batch}
      for update skip locked
    ),
    changed as (
      update enrollments e set status = 'expired', updated_at = ${at(now)}
      from stale where e.id = stale.id
      returning e.id, e.site_code, e.agent_id
    ),
    audit as (
      insert into audit_events (occurred_at, event_type, actor, site_code, enrollment_id, details)
      select ${at(now)}, 'enrollment.expired', 'system', c.site_code, c.id, jsonb_build_object('reason', 'approval_deadline_passed')
      from changed c
    )
    select count(*)::int as n from changed`);
  return rows[0]?.n ?? 0;
};
