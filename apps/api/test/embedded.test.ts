/**
 * The api on embedded Postgres (PGlite behind pglite-socket, DATABASE_URL
 * unset): the same lifecycle and the same single-winner races hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/helpers/api.ts';
import { createSite, enrollAndVerify, pollAfterInterval } from './flows.ts';
import { raceApproveAndReject, raceEnrollsWithOneCode } from './race-cases.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ embedded: true });
  await createSite(t, 'EMBED');
}, 120_000);
afterAll(async () => t.close());

describe('embedded Postgres', () => {
  it('reports ready once migrated', async () => {
    const r = await t.http.get('/readyz');
    expect(r.status).toBe(200);
  });

  it('runs the whole lifecycle', async () => {
    const { enrollmentId, pollToken } = await enrollAndVerify(t, 'EMBED');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/approve`).send({})).status).toBe(200);
    const s = await pollAfterInterval(t, pollToken);
    expect(s.status).toBe(200);
    expect(s.body.credentials.agent_key).toMatch(/^cak_/);
  });

  it('lets exactly one of 20 concurrent enrolls with one code win', async () => {
    const statuses = await raceEnrollsWithOneCode(t, 'EMBED', 20);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
  });

  it('lets exactly one of a concurrent approve and reject win', async () => {
    const [a, r] = await raceApproveAndReject(t, 'EMBED');
    expect([a, r].sort()).toEqual([200, 409]);
  });

  it('refuses UPDATE and DELETE on the audit table here too', async () => {
    await expect(t.api.deps.db.execute('update audit_events set actor = \'x\'')).rejects.toThrow();
    await expect(t.api.deps.db.execute('delete from audit_events')).rejects.toThrow();
  });
});
