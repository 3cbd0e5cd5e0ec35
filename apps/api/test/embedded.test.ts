/**
 * The api on embedded Postgres (PGlite behind pglite-socket, DATABASE_URL
 * unset): the same lifecycle and the same single-winner races hold.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollAndVerify, pollAfterInterval, startTestApi, type TestApi } from '@airlock/api/testing';
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

  it('leaves no file or directory of the embedded database readable by other users (#8.9)', () => {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isSymbolicLink()) return [];
        return e.isDirectory() ? [p, ...walk(p)] : [p];
      });
    const dataDir = t.api.deps.config.dataDir;
    const files = walk(dataDir);
    expect(files.length).toBeGreaterThan(10);
    const open = files.filter((f) => (statSync(f).mode & 0o077) !== 0).map((f) => `${f} ${(statSync(f).mode & 0o777).toString(8)}`);
    expect(open).toEqual([]);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  });

  it('refuses UPDATE and DELETE on the audit table here too', async () => {
    await expect(t.api.deps.db.execute('update audit_events set actor = \'x\'')).rejects.toThrow();
    await expect(t.api.deps.db.execute('delete from audit_events')).rejects.toThrow();
  });
});
