/**
 * Issue 20: signed webhooks from the transactional outbox, against a real
 * receiver on loopback and real Postgres. Every event type, the signature
 * checked by hand from the contract's formula, retries with the same
 * webhook-id, a receiver that comes back, a hanging receiver, refusals that
 * roll back, rotation, and no secret anywhere it should not be.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, signatureMatches, startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { createCode, createSite, enroll, enrollAndVerify, enrollBody, startTestApi, status, verify, type TestApi } from '@airlock/api/testing';
import { recordAudit } from '../src/domain/audit.ts';
import { addWebhook, deliveries } from './webhook-support.ts';

let t: TestApi;
let rx: Receiver;
let hook: { id: string; secret: string };
const secrets: string[] = [];

beforeAll(async () => {
  // A short retry base keeps the retry tests short (the default is 5 s; docs/alerts.md).
  t = await startTestApi({ env: { AIRLOCK_WEBHOOK_RETRY_BASE_MS: '150', AIRLOCK_WEBHOOK_POLL_MS: '50' } });
  rx = await startReceiver();
  await createSite(t, 'HQ', 'manual');
  await createSite(t, 'AUTO', 'auto');
  hook = await addWebhook(t, { url: rx.url, events: ['*'], description: 'everything' });
  secrets.push(hook.secret);
});
afterAll(async () => {
  await t.close();
  await rx.close();
});

const ofType = (type: string) => rx.received.filter((r) => r.json.type === type);
const arrived = (type: string, match: (d: Record<string, unknown>) => boolean = () => true) =>
  waitFor(() => ofType(type).find((r) => match(r.json.data ?? {})), `${type} at the receiver`);

describe('every event type reaches the receiver, signed', () => {
  it('enrollment.pending, .approved (operator and policy), .rejected, .identity_collision, .site_conflict, agent.revoked, site.enrollment_key_rotated', async () => {
    // pending, then approved by an operator
    const a = await enrollAndVerify(t, 'HQ', { machine_uid: 'machine-approve' });
    const pending = await arrived('enrollment.pending', (d) => d.enrollment_id === a.enrollmentId);
    expect(pending.json.data).toMatchObject({ site_code: 'HQ', hostname: 'vma-01', status: 'awaiting_approval', method: 'pairing_code' });
    expect((await t.admin('post', `/api/v1/admin/enrollments/${a.enrollmentId}/approve`).send({})).status).toBe(200);
    const approved = await arrived('enrollment.approved', (d) => d.enrollment_id === a.enrollmentId);
    expect(approved.json.data).toMatchObject({ approved_by: 'alice', site_code: 'HQ' });

    // rejected
    const r = await enrollAndVerify(t, 'HQ');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${r.enrollmentId}/reject`).send({ reason: 'not ours' })).status).toBe(200);
    expect((await arrived('enrollment.rejected', (d) => d.enrollment_id === r.enrollmentId)).json.data).toMatchObject({ reason: 'not ours', rejected_by: 'alice' });

    // site key rotated, then approved by policy
    const k = await t.admin('post', '/api/v1/admin/sites/AUTO/enrollment-key').send({});
    expect(k.status).toBe(201);
    expect((await arrived('site.enrollment_key_rotated', (d) => d.site_code === 'AUTO')).body).not.toContain(k.body.key);
    const key = newAgentKey();
    const e = await enroll(t, { site_code: 'AUTO', enrollment_key: k.body.key, public_key: key.publicKey, hostname: 'auto-01', machine_uid: 'machine-auto' });
    expect(e.status).toBe(201);
    const v = await verify(t, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.body.status).toBe('approved');
    expect((await arrived('enrollment.approved', (d) => d.enrollment_id === e.body.enrollment_id)).json.data).toMatchObject({ approved_by: 'policy' });
    const creds = await status(t, v.body.poll_token);
    expect(creds.status).toBe(200);

    // identity collision: a new, unsigned key for the machine that has an active agent
    const other = newAgentKey();
    const c = await enroll(t, { site_code: 'AUTO', enrollment_key: k.body.key, public_key: other.publicKey, hostname: 'auto-01', machine_uid: 'machine-auto' });
    const cv = await verify(t, c.body.enrollment_id, other.sign(c.body.enrollment_id, c.body.challenge));
    expect(cv.body.status).toBe('pending_confirmation');
    const collision = await arrived('enrollment.identity_collision', (d) => d.enrollment_id === c.body.enrollment_id);
    expect(collision.json.data).toMatchObject({ site_code: 'AUTO', machine_uid: 'machine-auto' });
    await arrived('enrollment.pending', (d) => d.enrollment_id === c.body.enrollment_id && d.status === 'pending_confirmation');

    // site conflict: the machine enrolled at AUTO tries HQ
    const { code } = await createCode(t, 'HQ');
    const conflict = await enroll(t, enrollBody(newAgentKey(), 'HQ', code, { machine_uid: 'machine-auto' }));
    expect(conflict.status).toBe(409);
    expect((await arrived('enrollment.site_conflict', (d) => d.site_code === 'HQ')).json.data).toMatchObject({ agent_id: creds.body.agent_id });

    // revoked
    expect((await t.admin('post', `/api/v1/admin/agents/${creds.body.agent_id}/revoke`).send({ reason: 'stolen' })).status).toBe(200);
    expect((await arrived('agent.revoked', (d) => d.agent_id === creds.body.agent_id)).json.data).toMatchObject({ revoked_by: 'alice', hostname: 'auto-01' });
  });

  it('tunnel.connected and tunnel.disconnected, from the audit rows the tunnel work writes', async () => {
    const agentId = randomUUID();
    for (const eventType of ['tunnel.connected', 'tunnel.disconnected']) {
      await recordAudit(t.api.deps.db, t.api.deps, null, {
        eventType,
        actor: 'system',
        siteCode: 'HQ',
        agentId,
        details: { source_ip: '203.0.113.7', remote_port: 20417, endpoint: 'tun-1' },
      });
    }
    expect((await arrived('tunnel.connected', (d) => d.agent_id === agentId)).json.data).toMatchObject({ details: { remote_port: 20417 } });
    await arrived('tunnel.disconnected', (d) => d.agent_id === agentId);
  });

  it('webhook.test goes to that webhook only, and every body verifies by hand with the contract formula', async () => {
    const other = await startReceiver();
    const second = await addWebhook(t, { url: other.url, events: ['agent.revoked'] });
    secrets.push(second.secret);
    const r = await t.admin('post', `/api/v1/admin/webhooks/${hook.id}/test`);
    expect(r.status).toBe(202);
    const got = await waitFor(() => rx.received.find((x) => x.id === r.body.event_id), 'the test event');
    expect(got.json).toMatchObject({ type: 'webhook.test', data: { webhook_id: hook.id } });
    expect(other.received).toEqual([]);
    await other.close();
    for (const x of rx.received) {
      expect(signatureMatches(x, hook.secret), x.body).toBe(true);
      expect(signatureMatches(x, second.secret)).toBe(false);
      expect(Math.abs(Number(x.timestamp) - Date.now() / 1000)).toBeLessThan(300);
      expect(x.json.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
  });

  it('a webhook for one site hears nothing of another; one for some types hears nothing else', async () => {
    const siteRx = await startReceiver();
    await addWebhook(t, { url: siteRx.url, events: ['enrollment.pending'], site_code: 'AUTO' });
    const hq = await enrollAndVerify(t, 'HQ');
    await arrived('enrollment.pending', (d) => d.enrollment_id === hq.enrollmentId);
    const k = await t.admin('post', '/api/v1/admin/sites/AUTO/enrollment-key').send({});
    await arrived('site.enrollment_key_rotated', (d) => d.site_code === 'AUTO' && rx.received.length > 0);
    // A barrier: the site webhook's own test event arrives after anything queued before it.
    const list = await t.admin('get', '/api/v1/admin/webhooks');
    const mine = (list.body.items as { id: string; site_code: string | null }[]).find((w) => w.site_code === 'AUTO');
    const probe = await t.admin('post', `/api/v1/admin/webhooks/${mine?.id}/test`);
    await waitFor(() => siteRx.received.find((x) => x.id === probe.body.event_id), 'the site webhook test');
    expect(siteRx.received.map((x) => x.json.type)).toEqual(['webhook.test']);
    expect(k.status).toBe(201);
    await siteRx.close();
  });
});

describe('delivery', () => {
  it('a 500 then a 200 gives the same webhook-id twice, with increasing delay', async () => {
    const flaky = await startReceiver();
    flaky.answer((_r, nth) => (nth <= 2 ? 500 : 200));
    const w = await addWebhook(t, { url: flaky.url, events: ['webhook.test'] });
    const r = await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
    await waitFor(() => flaky.received.length >= 3, 'three attempts');
    const [a, b, c] = flaky.received;
    expect(new Set(flaky.received.map((x) => x.id))).toEqual(new Set([r.body.event_id]));
    expect(c!.at - b!.at).toBeGreaterThan(b!.at - a!.at);
    const d = await waitFor(async () => (await deliveries(t, w.id)).find((x) => x.state === 'delivered'), 'the delivered state');
    expect(d).toMatchObject({ attempt: 3, status_code: 200, error: null, event_type: 'webhook.test' });
    await flaky.close();
  });

  it('a receiver that is down and then comes back still gets the event', async () => {
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const w = await addWebhook(t, { url: `http://127.0.0.1:${port}/later`, events: ['webhook.test'] });
    const r = await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
    const failed = await waitFor(async () => (await deliveries(t, w.id)).find((x) => x.attempt >= 1), 'a failed attempt');
    expect(failed).toMatchObject({ state: 'retrying', status_code: null });
    expect(failed.error).toMatch(/connect/);
    const back = await startReceiver(port);
    await waitFor(() => back.received.find((x) => x.id === r.body.event_id), 'the event after the receiver came back');
    await back.close();
  });

  it('a hanging receiver does not delay an approve call, holds at most its own slots, and never another endpoint', async () => {
    const hang = await startReceiver();
    hang.answer(() => 'hang');
    const h = await addWebhook(t, { url: hang.url, events: ['enrollment.pending', 'enrollment.approved', 'webhook.test'] });
    const a = await enrollAndVerify(t, 'HQ');
    await waitFor(() => hang.open() > 0, 'the receiver holding a request');
    const res = await t.admin('post', `/api/v1/admin/enrollments/${a.enrollmentId}/approve`).send({});
    expect(res.status).toBe(200);
    // The approve answered while the receiver still held the pending event's request open.
    expect(hang.open()).toBeGreaterThan(0);
    // The other endpoint (the '*' one) still gets its events while this one hangs.
    await arrived('enrollment.approved', (d) => d.enrollment_id === a.enrollmentId);
    // Ten more events for the hanging endpoint: at most AIRLOCK_WEBHOOK_CONCURRENCY (4) of them open at once.
    for (let i = 0; i < 10; i++) expect((await t.admin('post', `/api/v1/admin/webhooks/${h.id}/test`)).status).toBe(202);
    await waitFor(() => hang.open() === 4, 'four requests held');
    const probe = await t.admin('post', `/api/v1/admin/webhooks/${hook.id}/test`);
    await waitFor(() => rx.received.find((x) => x.id === probe.body.event_id), 'the other endpoint served meanwhile');
    expect(hang.open()).toBe(4);
    expect((await t.admin('delete', `/api/v1/admin/webhooks/${h.id}`)).status).toBe(204);
    await hang.close();
  });

  it('format slack sends one readable line, signed the same way', async () => {
    const chat = await startReceiver();
    const w = await addWebhook(t, { url: chat.url, events: ['enrollment.pending'], format: 'slack', site_code: 'HQ' });
    const e = await enrollAndVerify(t, 'HQ');
    const got = await waitFor(() => chat.received[0], 'the slack message');
    expect(Object.keys(got.json)).toEqual(['text']);
    expect(got.json.text).toContain('Airlock: enrollment.pending · site HQ · host vma-01');
    expect(signatureMatches(got, w.secret)).toBe(true);
    expect(e.enrollmentId).toBeDefined();
    await chat.close();
  });

  it('a refusal that rolls back sends nothing', async () => {
    const quiet = await startReceiver();
    const w = await addWebhook(t, { url: quiet.url, events: ['agent.revoked', 'webhook.test'] });
    await expect(
      t.api.deps.db.transaction(async (tx) => {
        await recordAudit(tx, t.api.deps, null, { eventType: 'agent.revoked', actor: 'alice', siteCode: 'HQ', agentId: randomUUID() });
        throw new Error('refused after the audit row');
      }),
    ).rejects.toThrow('refused');
    // Revoking an unknown agent is refused too.
    expect((await t.admin('post', `/api/v1/admin/agents/${randomUUID()}/revoke`).send({})).status).toBe(404);
    const probe = await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
    await waitFor(() => quiet.received.find((x) => x.id === probe.body.event_id), 'the test event');
    expect(quiet.received.map((x) => x.json.type)).toEqual(['webhook.test']);
    await quiet.close();
  });
});

describe('secrets', () => {
  it('rotation: both secrets sign for 24 h, the list shows when the old one stops, never a secret', async () => {
    const rot = await startReceiver();
    const w = await addWebhook(t, { url: rot.url, events: ['webhook.test'] });
    secrets.push(w.secret);
    const r = await t.admin('post', `/api/v1/admin/webhooks/${w.id}/secret`);
    expect(r.status).toBe(201);
    expect(r.body.secret).toMatch(/^whsec_/);
    secrets.push(r.body.secret);
    const probe = await t.admin('post', `/api/v1/admin/webhooks/${w.id}/test`);
    const got = await waitFor(() => rot.received.find((x) => x.id === probe.body.event_id), 'the test event');
    expect(got.signature.split(' ')).toHaveLength(2);
    expect(signatureMatches(got, w.secret)).toBe(true);
    expect(signatureMatches(got, r.body.secret)).toBe(true);
    const listed = (await t.admin('get', '/api/v1/admin/webhooks')).body.items.find((x: { id: string }) => x.id === w.id);
    // Database time (the clock the worker compares it with), not the test's hand-moved clock.
    expect(Math.abs(Date.parse(listed.previous_secret_expires_at) - Date.now() - 24 * 3600 * 1000)).toBeLessThan(60_000);
    await rot.close();
  });

  it('no secret in a list, an audit row, a delivery listing, a received body or a log line', async () => {
    const places = [
      JSON.stringify((await t.admin('get', '/api/v1/admin/webhooks')).body),
      JSON.stringify((await t.admin('get', '/api/v1/admin/audit?limit=200')).body),
      JSON.stringify(await deliveries(t, hook.id)),
      ...rx.received.map((x) => x.body + x.signature),
      ...t.logs,
    ];
    expect(secrets.length).toBeGreaterThan(2);
    for (const s of secrets) {
      const raw = s.slice('whsec_'.length);
      for (const p of places) expect(p.includes(raw)).toBe(false);
    }
    const stored = await t.api.deps.db.execute<{ secret_ciphertext: string }>(
      (await import('drizzle-orm')).sql`select secret_ciphertext from webhooks`,
    );
    for (const row of stored) for (const s of secrets) expect(row.secret_ciphertext.includes(s.slice(6))).toBe(false);
  });
});

describe('admin routes', () => {
  it('refuses link-local and metadata URLs when created; loopback and private stay allowed', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'http://[fe80::1]/x',
      'http://[fd00:ec2::254]/x',
      'http://[::ffff:169.254.169.254]/x',
      'http://0.0.0.0:8080/x',
      'http://100.100.100.200/x',
    ]) {
      const r = await t.admin('post', '/api/v1/admin/webhooks').send({ url, events: ['*'] });
      expect(r.status, url).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.fields.url).toMatch(/link-local|metadata|reserved/);
    }
    for (const url of ['ftp://example.com/x', 'http://user:pw@127.0.0.1/x', 'not a url']) {
      expect((await t.admin('post', '/api/v1/admin/webhooks').send({ url, events: ['*'] })).status, url).toBe(400);
    }
    expect((await t.admin('post', '/api/v1/admin/webhooks').send({ url: 'http://10.1.2.3/x', events: ['nope.nothing'] })).status).toBe(400);
    expect((await t.admin('post', '/api/v1/admin/webhooks').send({ url: 'http://10.1.2.3/x', events: ['*'], site_code: 'NOPE' })).status).toBe(404);
    const ok = await t.admin('post', '/api/v1/admin/webhooks').send({ url: 'http://10.1.2.3:9/x', events: ['agent.revoked'], format: 'slack' });
    expect(ok.status).toBe(201);
    expect((await t.admin('delete', `/api/v1/admin/webhooks/${ok.body.id}`)).status).toBe(204);
    expect((await t.admin('delete', `/api/v1/admin/webhooks/${ok.body.id}`)).status).toBe(404);
  });

  it('an auditor lists but cannot create, delete, rotate or test; each refusal is audited', async () => {
    const as = (method: 'get' | 'post' | 'delete', url: string) =>
      t.http[method](url).set('authorization', `Bearer ${t.auditorToken}`);
    expect((await as('get', '/api/v1/admin/webhooks')).status).toBe(200);
    expect((await as('get', `/api/v1/admin/webhooks/${hook.id}/deliveries`)).status).toBe(200);
    expect((await as('post', '/api/v1/admin/webhooks').send({ url: rx.url, events: ['*'] })).status).toBe(403);
    expect((await as('delete', `/api/v1/admin/webhooks/${hook.id}`)).status).toBe(403);
    expect((await as('post', `/api/v1/admin/webhooks/${hook.id}/secret`)).status).toBe(403);
    expect((await as('post', `/api/v1/admin/webhooks/${hook.id}/test`)).status).toBe(403);
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=admin.forbidden&limit=50');
    expect(audit.body.items.filter((i: { details: { path: string } }) => i.details.path.startsWith('/api/v1/admin/webhooks')).length).toBeGreaterThanOrEqual(4);
  });

  it('pages deliveries with a cursor and refuses a forged one', async () => {
    const page = await t.admin('get', `/api/v1/admin/webhooks/${hook.id}/deliveries?limit=2`);
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(2);
    const next = await t.admin('get', `/api/v1/admin/webhooks/${hook.id}/deliveries?limit=2&cursor=${page.body.next_cursor}`);
    expect(next.body.items[0].event_id).not.toBe(page.body.items[0].event_id);
    expect((await t.admin('get', `/api/v1/admin/webhooks/${hook.id}/deliveries?cursor=forged`)).status).toBe(400);
    expect((await t.admin('get', `/api/v1/admin/webhooks/${randomUUID()}/deliveries`)).status).toBe(404);
  });
});
