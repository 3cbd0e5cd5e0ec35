/**
 * #8.1: junk from strangers cannot grow the audit table without bound. Refusals
 * that concern no real site, enrollment or agent are counted per (source IP,
 * kind, minute); refusals about real things keep their own rows; audit rows
 * leave only through `audit prune`, which is audited itself.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { createCode, createSite, enrollBody, startTestApi, type TestApi } from '@airlock/api/testing';
import { anonymousRefusals } from '../src/metrics/refusals.ts';
import { runCli } from '@airlock/cli/run';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'REAL-SITE');
});
afterAll(async () => t.close());

const count = async (query: ReturnType<typeof sql>) => {
  const rows = await t.api.deps.db.execute<{ n: number }>(query);
  return Number(rows[0]?.n ?? -1);
};
const auditRows = () => count(sql`select count(*)::int as n from audit_events`);

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${t.api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

/** Five kinds of junk a stranger can loop, none naming anything that exists. */
const junk = (n: number): Promise<Response> => {
  const key = newAgentKey().publicKey;
  switch (n % 5) {
    case 0: // the measured attack: a new unknown site code each time
      return post('/api/v1/enroll', JSON.stringify({ site_code: `S${n}`, enrollment_key: `cek_${'A'.repeat(43)}`, public_key: key, hostname: 'h', machine_uid: 'machine-0001' }));
    case 1: // malformed body
      return post('/api/v1/enroll', JSON.stringify({ site_code: `S${n}`, enrollment_key: 'x', public_key: key, hostname: 'h' }));
    case 2: // failed admin bearer
      return fetch(`${t.api.url}/api/v1/admin/sites`, { headers: { authorization: `Bearer aop_${randomBytes(32).toString('base64url')}` } });
    case 3: // unknown poll token
      return fetch(`${t.api.url}/api/v1/enroll/status`, { headers: { authorization: `Bearer ept_${randomBytes(32).toString('base64url')}` } });
    default: // unknown enrollment
      return post('/api/v1/enroll/verify', JSON.stringify({ enrollment_id: '00000000-0000-4000-8000-000000000000', signature: 'AAAA' }));
  }
};

describe('refusals from strangers', () => {
  it('3,000 junk requests straight at the api write a bounded number of rows, all counted', async () => {
    const rowsBefore = await auditRows();
    const metricBefore = anonymousRefusals.total();
    const N = 3000;
    for (let i = 0; i < N; i += 25) {
      const batch = await Promise.all(Array.from({ length: 25 }, (_, j) => junk(i + j)));
      for (const r of batch) {
        expect(r.status).toBeGreaterThanOrEqual(400);
        expect(r.status).toBeLessThan(500);
        const body = (await r.json()) as { error: { code: string } };
        expect(body.error.code).toEqual(expect.any(String));
      }
    }
    // Not one full audit row for any of them.
    expect(await auditRows()).toBe(rowsBefore);
    // The clock stands still in this test: one minute, five kinds, one source address.
    const summaryRows = await count(sql`select count(*)::int as n from audit_refusal_counts`);
    expect(summaryRows).toBeGreaterThan(0);
    expect(summaryRows).toBeLessThanOrEqual(5);
    expect(await count(sql`select coalesce(sum(count), 0)::int as n from audit_refusal_counts`)).toBe(N);
    expect(anonymousRefusals.total() - metricBefore).toBe(N);
    expect(anonymousRefusals.snapshot()['enroll.denied']).toBeGreaterThanOrEqual(N / 5);
    // 3,000 real requests on a shared two-core machine: room to finish, no timing asserted.
  }, 240_000);

  it('starts a new summary row for each minute, not for each request', async () => {
    const before = await count(sql`select count(*)::int as n from audit_refusal_counts where kind = 'admin.unauthorized'`);
    t.clock.advance(60_000);
    for (let i = 0; i < 10; i++) expect((await junk(2)).status).toBe(401);
    expect(await count(sql`select count(*)::int as n from audit_refusal_counts where kind = 'admin.unauthorized'`)).toBe(before + 1);
  });

  it('keeps a full row for a refusal about a real site, enrollment or agent', async () => {
    const before = await auditRows();
    const r = await post('/api/v1/enroll', JSON.stringify(enrollBody(newAgentKey(), 'REAL-SITE', 'ZZZZ-ZZZZ-ZZZZ')));
    expect(r.status).toBe(401);
    expect(await auditRows()).toBe(before + 1);
    const rows = await t.api.deps.db.execute<{ event_type: string; site_code: string | null }>(
      sql`select event_type, site_code from audit_events order by seq desc limit 1`,
    );
    expect(rows[0]).toEqual({ event_type: 'enroll.denied', site_code: 'REAL-SITE' });
    // An authenticated operator's malformed request is a full row too: it names who sent it.
    const bad = await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'x' });
    expect(bad.status).toBe(400);
    expect(await auditRows()).toBe(before + 2);
  });

  it('lets operators read the counts through the admin API (auditor included) and the CLI', async () => {
    const r = await t.http.get('/api/v1/admin/audit/refusals?limit=2').set('authorization', `Bearer ${t.auditorToken}`);
    expect(r.status).toBe(200);
    expect(r.body.items).toHaveLength(2);
    expect(r.body.items[0]).toMatchObject({ source_ip: '127.0.0.1', kind: expect.any(String), count: expect.any(Number) });
    const r2 = await t.admin('get', `/api/v1/admin/audit/refusals?limit=100&cursor=${r.body.next_cursor}`);
    expect(r2.status).toBe(200);
    const all = [...r.body.items, ...r2.body.items].map((i: { kind: string; minute: string }) => `${i.minute}/${i.kind}`);
    expect(new Set(all).size).toBe(all.length);
    expect((await t.admin('get', '/api/v1/admin/audit/refusals?cursor=bogus')).status).toBe(400);
    expect((await t.http.get('/api/v1/admin/audit/refusals')).status).toBe(401);

    let out = '';
    const code = await runCli(['audit', 'refusals', '--kind', 'enroll.denied'], {
      io: { out: (s) => (out += s), err: (s) => (out += s) },
      env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.auditorToken },
    });
    expect(code).toBe(0);
    expect(out).toContain('enroll.denied');
    expect(out).toContain('127.0.0.1');
  });
});

describe('audit retention', () => {
  it('still refuses a plain DELETE, UPDATE or TRUNCATE, even with the cutoff setting forged outside the prune function', async () => {
    await expect(t.api.deps.db.execute(sql`delete from audit_events`)).rejects.toThrow();
    await expect(t.api.deps.db.execute(sql`update audit_events set actor = 'mallory'`)).rejects.toThrow();
    await expect(t.api.deps.db.execute(sql`truncate audit_events`)).rejects.toThrow();
    // Forging the setting lets old rows go (it is a guard against bugs, not against the table owner; see docs/security.md),
    // but never an audit.pruned row, never an UPDATE, never a TRUNCATE.
    await expect(
      t.api.deps.db.transaction(async (tx) => {
        await tx.execute(sql`select set_config('airlock.audit_prune_before', '2100-01-01', true)`);
        await tx.execute(sql`update audit_events set actor = 'mallory'`);
      }),
    ).rejects.toThrow();
  });

  it('prunes only through the admin command, refuses a cutoff inside the retention period, and leaves an audit.pruned row', async () => {
    const site = 'PRUNE-SITE';
    await createSite(t, site);
    await createCode(t, site);
    const oldRows = await auditRows();
    expect(oldRows).toBeGreaterThan(3);

    const tooRecent = await t.admin('post', '/api/v1/admin/audit/prune').send({ before: t.clock.now().toISOString() });
    expect(tooRecent.status).toBe(400);
    expect(tooRecent.body.error.fields.before).toContain('AIRLOCK_AUDIT_MIN_RETENTION_DAYS');
    const auditor = await t.http.post('/api/v1/admin/audit/prune').set('authorization', `Bearer ${t.auditorToken}`).send({ before: '2020-01-01' });
    expect(auditor.status).toBe(403);
    const junkBody = await t.admin('post', '/api/v1/admin/audit/prune').send({ before: 'yesterday' });
    expect(junkBody.status).toBe(400);

    // 100 days on, a new row is written; prune everything older than 95 days through the CLI.
    t.clock.advance(100 * 86_400_000);
    await createSite(t, 'NEW-SITE');
    const cutoff = new Date(t.clock.now().getTime() - 95 * 86_400_000).toISOString();
    let out = '';
    const code = await runCli(['audit', 'prune', '--before', cutoff], {
      io: { out: (s) => (out += s), err: (s) => (out += s) },
      env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken },
    });
    expect(code, out).toBe(0);
    expect(out).toMatch(/pruned \d+ audit events and \d+ refusal counts/);

    const left = await t.api.deps.db.execute<{ event_type: string; actor: string; details: Record<string, unknown> }>(
      sql`select event_type, actor, details from audit_events order by seq`,
    );
    // The refusals of the other tests and every old row are gone; the new site and the prune's own row stay.
    expect(left.map((r) => r.event_type)).toEqual(['site.created', 'audit.pruned']);
    const pruned = left.at(-1);
    expect(pruned?.actor).toBe('alice');
    // The old rows plus the three refused prune attempts above, each audited with its operator.
    expect(pruned?.details.events_deleted).toBe(oldRows + 3);
    expect(await count(sql`select count(*)::int as n from audit_refusal_counts`)).toBe(0);

    // A second prune later never removes audit.pruned rows.
    t.clock.advance(400 * 86_400_000);
    const again = await t.admin('post', '/api/v1/admin/audit/prune').send({ before: new Date(t.clock.now().getTime() - 91 * 86_400_000).toISOString() });
    expect(again.status).toBe(200);
    const types = (await t.api.deps.db.execute<{ event_type: string }>(sql`select event_type from audit_events order by seq`)).map((r) => r.event_type);
    expect(types.filter((x) => x === 'audit.pruned')).toHaveLength(2);
    expect(types).not.toContain('site.created');
    // Directly on the database (DATABASE_URL), for when the api is down: same limits, same audit.pruned row.
    const direct = async (before: string) => {
      let text = '';
      const c = await runCli(['audit', 'prune', '--before', before], {
        io: { out: (s) => (text += s), err: (s) => (text += s) },
        env: { DATABASE_URL: t.db?.url ?? '' },
        now: () => t.clock.now(),
      });
      return { c, text };
    };
    const recent = await direct(t.clock.now().toISOString());
    expect(recent.c).toBe(1);
    expect(recent.text).toContain('kept at least 90 days');
    const ok = await direct('2020-01-01');
    expect(ok.c, ok.text).toBe(0);
    const lastRow = await t.api.deps.db.execute<{ event_type: string; actor: string }>(sql`select event_type, actor from audit_events order by seq desc limit 1`);
    expect(lastRow[0]?.event_type).toBe('audit.pruned');
    expect(lastRow[0]?.actor).toMatch(/^database:/);
    // And a plain DELETE still fails afterwards: the cutoff was transaction-local.
    await expect(t.api.deps.db.execute(sql`delete from audit_events`)).rejects.toThrow();
  });
});
