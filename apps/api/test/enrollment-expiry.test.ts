/**
 * Stale enrollments expire (issue 22): the sweeper marks waiting enrollments
 * past their approval deadline `expired`, each with one audit row, and two
 * sweepers racing expire each row exactly once.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollAndVerify, startTestApi, type TestApi } from '@airlock/api/testing';
import { expireStaleEnrollments } from '../src/domain/enrollment-expiry.ts';

let t: TestApi;
// The timer is off: the test calls the sweep itself, at the moments it chooses.
beforeAll(async () => {
  t = await startTestApi({ env: { AIRLOCK_EXPIRY_SWEEP_SECONDS: '0', AIRLOCK_APPROVAL_TTL_SECONDS: '3600' } });
  await createSite(t, 'EXPIRY');
});
afterAll(async () => t?.close());

const statusCounts = async () =>
  Object.fromEntries(
    (await t.api.deps.db.execute<{ status: string; n: number }>(sql`select status, count(*)::int as n from enrollments group by status`)).map((r) => [r.status, r.n]),
  );

describe('the enrollment expiry sweeper', () => {
  it('leaves enrollments inside their deadline alone, then expires them with one audit row each', async () => {
    for (let i = 0; i < 3; i++) await enrollAndVerify(t, 'EXPIRY');
    expect(await expireStaleEnrollments(t.api.deps)).toBe(0);
    expect((await statusCounts())['awaiting_approval']).toBe(3);
    t.clock.advance(3601 * 1000);
    expect(await expireStaleEnrollments(t.api.deps)).toBe(3);
    expect(await statusCounts()).toMatchObject({ expired: 3 });
    expect((await statusCounts())['awaiting_approval']).toBeUndefined();
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=enrollment.expired');
    expect(audit.body.items).toHaveLength(3);
    expect(audit.body.items[0]).toMatchObject({ actor: 'system', site_code: 'EXPIRY' });
    expect(await expireStaleEnrollments(t.api.deps)).toBe(0);
    // The pending list and /metrics' gauge count waiting rows only, so they no longer grow with stale ones.
    const pending = await t.admin('get', '/api/v1/admin/enrollments?status=expired');
    expect(pending.body.items).toHaveLength(3);
  });

  it('expires each stale enrollment exactly once when two sweepers race', async () => {
    for (let i = 0; i < 6; i++) await enrollAndVerify(t, 'EXPIRY');
    t.clock.advance(3601 * 1000);
    const [a, b] = await Promise.all([expireStaleEnrollments(t.api.deps), expireStaleEnrollments(t.api.deps)]);
    expect(a + b).toBe(6);
    const rows = await t.api.deps.db.execute<{ n: number; distinct_ids: number }>(
      sql`select count(*)::int as n, count(distinct enrollment_id)::int as distinct_ids from audit_events where event_type = 'enrollment.expired'`,
    );
    expect(rows[0]).toEqual({ n: 9, distinct_ids: 9 });
  });
});
