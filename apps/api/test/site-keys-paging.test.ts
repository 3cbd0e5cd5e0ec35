/**
 * #8.11: a leaked cek_ does not enroll without end (new keys get a default
 * expiry and use limit, unlimited only when asked for), and the pending list
 * pages with a cursor instead of truncating at 500.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { createSite, enroll, startTestApi, type TestApi } from '@airlock/api/testing';
import { runCli } from '@airlock/cli/run';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'KEY-SITE');
  await createSite(t, 'PAGE-SITE');
});
afterAll(async () => t.close());

const cli = async (args: string[]) => {
  let out = '';
  const code = await runCli(args, {
    io: { out: (s) => (out += s), err: (s) => (out += s) },
    env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken },
    now: () => t.clock.now(),
  });
  return { code, out };
};

describe('site enrollment key defaults', () => {
  it('gives a new key a 30-day expiry and 1000 uses by default, shown in sites key show', async () => {
    const r = await t.admin('post', '/api/v1/admin/sites/KEY-SITE/enrollment-key').send({});
    expect(r.status).toBe(201);
    expect(r.body.max_uses).toBe(1000);
    expect(new Date(r.body.expires_at).getTime()).toBe(t.clock.now().getTime() + 30 * 86_400_000);
    const shown = await cli(['sites', 'key', 'show', 'KEY-SITE']);
    expect(shown.code, shown.out).toBe(0);
    expect(shown.out).toMatch(/max uses:\s+1000/);
    expect(shown.out).toMatch(/expires:\s+2026-12-22/);
    // The default expiry bites: 30 days and a second later the key enrolls nothing.
    t.clock.advance(30 * 86_400_000 + 1000);
    const late = await enroll(t, { site_code: 'KEY-SITE', enrollment_key: r.body.key, public_key: newAgentKey().publicKey, hostname: 'h', machine_uid: 'late-machine-1' });
    expect(late.status).toBe(401);
  });

  it('is unlimited only when explicitly asked (null in the API, 0 or none on the CLI), and explicit flags override', async () => {
    const explicit = await t.admin('post', '/api/v1/admin/sites/KEY-SITE/enrollment-key').send({ expires_in_seconds: null, max_uses: null });
    expect(explicit.status).toBe(201);
    expect(explicit.body).toMatchObject({ expires_at: null, max_uses: null });
    const viaCli = await cli(['sites', 'key', 'rotate', 'KEY-SITE', '--max-uses', 'none', '--expires-in', '0']);
    expect(viaCli.code, viaCli.out).toBe(0);
    expect(viaCli.out).toContain('expires: never; max uses: unlimited');
    const custom = await cli(['sites', 'key', 'rotate', 'KEY-SITE', '--max-uses', '7']);
    expect(custom.out).toMatch(/max uses: 7/);
    expect((await t.admin('post', '/api/v1/admin/sites/KEY-SITE/enrollment-key').send({ max_uses: 0 })).status).toBe(400);
  });

  it('takes its defaults from AIRLOCK_SITE_KEY_TTL_SECONDS and AIRLOCK_SITE_KEY_MAX_USES', async () => {
    const other = await startTestApi({ env: { AIRLOCK_SITE_KEY_MAX_USES: '2', AIRLOCK_SITE_KEY_TTL_SECONDS: '0' } });
    try {
      await createSite(other, 'TINY');
      const k = await other.admin('post', '/api/v1/admin/sites/TINY/enrollment-key').send({});
      expect(k.body).toMatchObject({ max_uses: 2, expires_at: null });
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        const r = await enroll(other, { site_code: 'TINY', enrollment_key: k.body.key, public_key: newAgentKey().publicKey, hostname: 'h', machine_uid: `tiny-machine-${i}` });
        statuses.push(r.status);
      }
      expect(statuses).toEqual([201, 201, 401]);
    } finally {
      await other.close();
    }
  });
});

describe('pending list paging', () => {
  it('pages 1,205 waiting enrollments with a cursor, in the admin API and the CLI, losing none', async () => {
    // A real key and its real fingerprint: every answer is held to the route table's formats.
    const { publicKey: key, fingerprint } = newAgentKey();
    const now = t.clock.now();
    await t.api.deps.db.execute(sql`
      insert into enrollments (site_code, method, public_key, fingerprint, hostname, source_ip, challenge, challenge_expires_at,
                               status, poll_interval, approval_expires_at, created_at, updated_at)
      select 'PAGE-SITE', 'pairing_code', ${key}, ${fingerprint}, 'host-' || g, '192.0.2.1', 'c', ${now.toISOString()}::timestamptz,
             'awaiting_approval', 5, ${new Date(now.getTime() + 86_400_000).toISOString()}::timestamptz,
             ${now.toISOString()}::timestamptz - (g % 7) * interval '1 second', ${now.toISOString()}::timestamptz
      from generate_series(1, 1205) g`);

    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await t.admin('get', `/api/v1/admin/enrollments?status=awaiting_approval&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(500);
      for (const i of r.body.items as Array<{ id: string }>) seen.add(i.id);
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.size).toBe(1205);
    expect((await t.admin('get', '/api/v1/admin/enrollments?cursor=bogus')).status).toBe(400);
    expect((await t.admin('get', '/api/v1/admin/enrollments?limit=501')).status).toBe(400);

    const pending = await cli(['pending', '--json']);
    expect(pending.code).toBe(0);
    const ids = (JSON.parse(pending.out) as { items: Array<{ id: string; site_code: string }> }).items.filter((i) => i.site_code === 'PAGE-SITE').map((i) => i.id);
    expect(new Set(ids).size).toBe(1205);
  });
});
