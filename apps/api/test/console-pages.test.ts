/**
 * What the console's pages show and do, at the HTTP level: an identity
 * collision on Pending with the machine it collides with, the edge's lockouts
 * (real Redis) listed and lifted, the audit's cursor paging and filters, the
 * agents' filters, and the code-revoke action.
 */
import { randomBytes } from 'node:crypto';
import { edgeKeys } from '@airlock/lockouts';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, newAgentKey, REDIS_URL } from '@airlock/testing';
import { createCode, createSite, enroll, enrollAndVerify, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';

const PW = 'pages test password';
const prefix = `airlock-test:${randomBytes(6).toString('hex')}:`;
const keys = edgeKeys(prefix);
let t: TestApi;
let redis: Redis;
let c: ConsoleClient;

beforeAll(async () => {
  t = await startTestApi({ env: { REDIS_URL, EDGE_REDIS_PREFIX: prefix } });
  redis = new Redis(REDIS_URL);
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  c = new ConsoleClient(t.api.url);
  expect((await c.signIn('alice', PW)).status).toBe(303);
  await c.get('/console/pending');
});
afterAll(async () => {
  const leftovers = await redis.keys(`${prefix}*`);
  if (leftovers.length) await redis.del(...leftovers);
  redis.disconnect();
  await t.close();
});

describe('console pages', () => {
  it('shows an identity collision on Pending as such, with the machine it collides with', async () => {
    await createSite(t, 'CLONES', 'auto');
    const rotated = await t.admin('post', '/api/v1/admin/sites/CLONES/enrollment-key').send({});
    const uid = `uid-${randomBytes(4).toString('hex')}`;
    const keyEnroll = async (hostname: string) => {
      const agent = newAgentKey();
      const e = await enroll(t, { site_code: 'CLONES', enrollment_key: rotated.body.key, public_key: agent.publicKey, hostname, machine_uid: uid });
      expect(e.status).toBe(201);
      const v = await verify(t, e.body.enrollment_id, agent.sign(e.body.enrollment_id, e.body.challenge));
      expect(v.status).toBe(200);
      return { id: e.body.enrollment_id as string, verify: v.body };
    };
    const original = await keyEnroll('template-a');
    expect((await status(t, original.verify.poll_token)).status).toBe(200);
    const clone = await keyEnroll('template-b');
    expect(clone.verify.status).toBe('pending_confirmation');
    const agents = await t.admin('get', '/api/v1/admin/agents');
    const existing = agents.body.items.find((a: { hostname: string }) => a.hostname === 'template-a');

    const page = await c.get('/console/pending');
    const row = page.text.slice(page.text.indexOf(`data-id="${clone.id}"`));
    expect(row).toContain('pending confirmation');
    expect(row).toContain('Identity collision');
    expect(row).toContain('<strong>template-a</strong>');
    expect(row).toContain(existing.fingerprint);
    expect(row.indexOf('template-b')).toBeGreaterThan(-1);
    // Collisions come first on the page.
    await createSite(t, 'PLAIN');
    await enrollAndVerify(t, 'PLAIN', { hostname: 'plain-01' });
    const again = await c.get('/console/pending');
    expect(again.text.indexOf('template-b')).toBeLessThan(again.text.indexOf('plain-01'));
  });

  it('lists the edge lockouts from Redis and lifts one, audited with the operator name', async () => {
    await redis.set(keys.lockout('ACME', '203.0.113.7'), '1', 'EX', 900);
    await redis.set(keys.block('198.51.100.9'), '1', 'EX', 86400);
    const page = await c.get('/console/lockouts');
    expect(page.status).toBe(200);
    expect(page.text).toContain('203.0.113.7');
    expect(page.text).toContain('198.51.100.9');
    const key = keys.lockout('ACME', '203.0.113.7');
    const lifted = await c.post('/console/lockouts/lift', { key });
    expect(lifted.status).toBe(303);
    expect(lifted.headers.get('location')).toBe('/console/lockouts?done=lockout_lifted');
    expect(await redis.exists(key)).toBe(0);
    const after = await c.get('/console/lockouts?done=lockout_lifted');
    expect(after.text).toContain('Lockout lifted.');
    expect(after.text).not.toContain('203.0.113.7');
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=lockout.cleared');
    expect(audit.body.items[0].actor).toBe('alice');
  });

  it('refuses a lockout key outside the lockout namespaces', async () => {
    const res = await c.post('/console/lockouts/lift', { key: `${prefix}rl:enroll:x` });
    expect(res.status).toBe(400);
    expect(res.text).toContain('is not a lockout or block key');
  });

  it('pages the audit newest first with the cursor, and filters it', async () => {
    await createSite(t, 'AUDIT');
    for (let i = 0; i < 55; i++) await createCode(t, 'AUDIT', { note: `note-${i}` });
    const first = await c.get('/console/audit?site_code=AUDIT&event_type=pairing_code.created');
    const notes = (html: string) => [...html.matchAll(/note-(\d+)/g)].map((m) => Number(m[1]));
    expect(notes(first.text)).toEqual(Array.from({ length: 50 }, (_, i) => 54 - i));
    const older = /href="(\/console\/audit\?[^"]*cursor=[^"]+)"/.exec(first.text)?.[1]?.replaceAll('&amp;', '&');
    expect(older).toBeDefined();
    const second = await c.get(older ?? '');
    expect(notes(second.text)).toEqual([4, 3, 2, 1, 0]);
    expect(second.text).toContain('>Newest<');
    expect(second.text).not.toContain('>Older<');
    expect((await c.get('/console/audit?agent_id=not-a-uuid')).status).toBe(400);
  });

  it('filters agents by site and status', async () => {
    await createSite(t, 'FLEET');
    const a = await enrollAndVerify(t, 'FLEET', { hostname: 'fleet-01' });
    expect((await t.admin('post', `/api/v1/admin/enrollments/${a.enrollmentId}/approve`).send({})).status).toBe(200);
    const bySite = await c.get('/console/agents?site=FLEET&status=');
    expect(bySite.text).toContain('fleet-01');
    expect(bySite.text).not.toContain('template-a');
    const revoked = await c.get('/console/agents?site=&status=revoked');
    expect(revoked.text).not.toContain('fleet-01');
    expect((await c.get('/console/agents?status=bogus')).status).toBe(400);
    // Issue 21: the Tunnel column and its filter (no endpoint has reported a session: disconnected, never connected).
    expect(bySite.text).toContain('<th scope="col">Tunnel</th>');
    expect(bySite.text).toMatch(/badge-disconnected[^]*never connected/);
    expect((await c.get('/console/agents?tunnel=connected')).text).not.toContain('fleet-01');
    expect((await c.get('/console/agents?tunnel=disconnected')).text).toContain('fleet-01');
    expect((await c.get('/console/agents?tunnel=bogus')).status).toBe(400);
  });

  it('revokes a pairing code from its page', async () => {
    const code = await createCode(t, 'FLEET', { note: 'to revoke' });
    const page = await c.get('/console/pairing-codes');
    expect(page.text).toContain(`action="/console/pairing-codes/${code.id}/revoke"`);
    const res = await c.post(`/console/pairing-codes/${code.id}/revoke`);
    expect(res.status).toBe(303);
    const list = await t.admin('get', '/api/v1/admin/pairing-codes?status=revoked');
    expect(list.body.items.map((i: { id: string }) => i.id)).toContain(code.id);
    const twice = await c.post(`/console/pairing-codes/${code.id}/revoke`);
    expect(twice.status).toBe(409);
    expect(twice.text).toContain('already revoked');
  });
});
