/**
 * Issue 18, left from round 1: a leaked cek_ can spend every use of a site
 * key and so stop new machines at that site. The spend is now visible: an
 * audit event when the key passes 80% of its uses and when its use rate
 * jumps, each written once (not once per enroll), and the uses left in the
 * admin API, `airlock sites key show` and the console's Sites page.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, newAgentKey } from '@airlock/testing';
import { createSite, enroll, startTestApi, type TestApi } from '@airlock/api/testing';
import { runCli } from '@airlock/cli/run';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';

const PW = 'correct horse battery staple';
let t: TestApi;
beforeAll(async () => {
  // A small burst threshold keeps the test short; the default is 20.
  t = await startTestApi({ env: { AIRLOCK_SITE_KEY_BURST_USES: '5' } });
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
});
afterAll(async () => t.close());

const rotate = async (site: string, body: Record<string, unknown>) => {
  const r = await t.admin('post', `/api/v1/admin/sites/${site}/enrollment-key`).send(body);
  expect(r.status).toBe(201);
  return r.body.key as string;
};

/** Spends `n` uses of the key, as a holder of it would: one enroll each (no need to answer the challenge). */
const spend = async (site: string, key: string, n: number) => {
  for (let i = 0; i < n; i++) {
    const r = await enroll(t, { site_code: site, enrollment_key: key, public_key: newAgentKey().publicKey, hostname: 'spent', machine_uid: `spend-${randomUUID()}` });
    expect(r.status).toBe(201);
  }
};

const events = async (site: string, eventType: string) => {
  const r = await t.admin('get', `/api/v1/admin/audit?site_code=${site}&event_type=${eventType}&limit=100`);
  expect(r.status).toBe(200);
  return r.body.items as { actor: string; enrollment_id: string; details: Record<string, unknown> }[];
};

describe('site.enrollment_key_uses_high', () => {
  it('is written once, by the use that reaches 80% of the key, not by the uses after it', async () => {
    await createSite(t, 'HIGH', 'auto');
    const key = await rotate('HIGH', { max_uses: 10 });
    await spend('HIGH', key, 7);
    expect(await events('HIGH', 'site.enrollment_key_uses_high')).toEqual([]);
    await spend('HIGH', key, 1);
    const [alert, ...more] = await events('HIGH', 'site.enrollment_key_uses_high');
    expect(more).toEqual([]);
    expect(alert).toMatchObject({ actor: 'system', details: { version: 1, use_count: 8, max_uses: 10, uses_left: 2, fingerprint: expect.stringMatching(/^v1 \(/) } });
    await spend('HIGH', key, 2);
    expect(await events('HIGH', 'site.enrollment_key_uses_high')).toHaveLength(1);
    // Used up: the next enroll is refused, and still no second alert.
    const refused = await enroll(t, { site_code: 'HIGH', enrollment_key: key, public_key: newAgentKey().publicKey, hostname: 'h', machine_uid: `spend-${randomUUID()}` });
    expect(refused.status).toBe(401);
    expect(await events('HIGH', 'site.enrollment_key_uses_high')).toHaveLength(1);
    expect(t.logs.some((l) => l.includes('"msg":"site.enrollment_key_uses_high"'))).toBe(true);
  });

  it('is written once under concurrency too: 20 enrolls racing across the threshold', async () => {
    await createSite(t, 'HIGH-RACE', 'auto');
    const key = await rotate('HIGH-RACE', { max_uses: 25 });
    await Promise.all(
      Array.from({ length: 22 }, () =>
        enroll(t, { site_code: 'HIGH-RACE', enrollment_key: key, public_key: newAgentKey().publicKey, hostname: 'race', machine_uid: `race-${randomUUID()}` }),
      ),
    );
    expect(await events('HIGH-RACE', 'site.enrollment_key_uses_high')).toHaveLength(1);
  });
});

describe('site.enrollment_key_use_burst', () => {
  it('is written once per 10-minute bucket when the uses reach N and 10x the trailing average, and follows the key\'s usual rate', async () => {
    await createSite(t, 'BURST', 'auto');
    const key = await rotate('BURST', { max_uses: 1000 });
    // A new key has no history: N (5) uses in a bucket raise it, once.
    await spend('BURST', key, 4);
    expect(await events('BURST', 'site.enrollment_key_use_burst')).toEqual([]);
    await spend('BURST', key, 1);
    expect(await events('BURST', 'site.enrollment_key_use_burst')).toHaveLength(1);
    await spend('BURST', key, 3);
    expect(await events('BURST', 'site.enrollment_key_use_burst')).toHaveLength(1);

    // Next bucket: the trailing average is 8/6 uses a bucket, so it takes 10x that (14), not 5.
    t.clock.advance(10 * 60_000);
    await spend('BURST', key, 13);
    expect(await events('BURST', 'site.enrollment_key_use_burst')).toHaveLength(1);
    await spend('BURST', key, 1);
    const second = await events('BURST', 'site.enrollment_key_use_burst');
    expect(second).toHaveLength(2);
    expect(second[0]?.details).toMatchObject({ uses_in_bucket: 14, threshold: 14, bucket_minutes: 10, trailing_average_per_bucket: 1.33 });

    // Three quiet hours later the average has decayed: N is the bar again.
    t.clock.advance(3 * 3600_000);
    await spend('BURST', key, 5);
    expect(await events('BURST', 'site.enrollment_key_use_burst')).toHaveLength(3);
  });

  it('is off with AIRLOCK_SITE_KEY_BURST_USES=0', async () => {
    const quiet = await startTestApi({ env: { AIRLOCK_SITE_KEY_BURST_USES: '0' } });
    try {
      await createSite(quiet, 'QUIET', 'auto');
      const r = await quiet.admin('post', '/api/v1/admin/sites/QUIET/enrollment-key').send({});
      for (let i = 0; i < 25; i++) {
        await enroll(quiet, { site_code: 'QUIET', enrollment_key: r.body.key, public_key: newAgentKey().publicKey, hostname: 'q', machine_uid: `quiet-${randomUUID()}` });
      }
      const audit = await quiet.admin('get', '/api/v1/admin/audit?event_type=site.enrollment_key_use_burst');
      expect(audit.body.items).toEqual([]);
    } finally {
      await quiet.close();
    }
  });
});

describe('uses left', () => {
  it('is shown by the admin API, airlock sites key show and the console Sites page', async () => {
    await createSite(t, 'LEFT', 'auto');
    const key = await rotate('LEFT', { max_uses: 10 });
    await spend('LEFT', key, 9);
    const described = await t.admin('get', '/api/v1/admin/sites/LEFT/enrollment-key');
    expect(described.body).toMatchObject({ use_count: 9, max_uses: 10, uses_left: 1 });

    let out = '';
    const code = await runCli(['sites', 'key', 'show', 'LEFT'], {
      io: { out: (s) => (out += s), err: (s) => (out += s) },
      env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.auditorToken },
      now: () => t.clock.now(),
    });
    expect(code, out).toBe(0);
    expect(out).toMatch(/uses left:\s+1\n/);

    const c = new ConsoleClient(t.api.url);
    expect((await c.signIn('alice', PW)).status).toBe(303);
    const page = await c.get('/console/sites');
    const row = /<tr data-site="LEFT"[\s\S]*?<\/tr>/.exec(page.text)?.[0] ?? '';
    expect(row).toContain('9 uses of 10');
    // A fifth or less left is flagged.
    expect(row).toMatch(/<div class="collision uses-left">1 use left<\/div>/);
    const unlimited = await rotate('LEFT', { max_uses: null });
    expect(unlimited).toMatch(/^cek_/);
    const again = await c.get('/console/sites');
    expect(/<tr data-site="LEFT"[\s\S]*?<\/tr>/.exec(again.text)?.[0]).toContain('no use limit');
  });
});
