import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { createCode, createSite, enroll, enrollAndVerify, enrollBody, pollAfterInterval, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'ACME-PHX');
});
afterAll(async () => t.close());

const internalVerify = (agentKey: string) =>
  t.http.post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${t.serviceToken}`).send({ agent_key: agentKey });

describe('the enrollment lifecycle', () => {
  it('enrolls, verifies, waits, is approved, collects the agent key once, and is revoked', async () => {
    const { enrollmentId, pollToken, verify: v } = await enrollAndVerify(t, 'acme-phx');
    expect(v).toEqual({ status: 'awaiting_approval', poll_token: expect.stringMatching(/^ept_/), poll_interval: 5 });

    const waiting = await pollAfterInterval(t, pollToken);
    expect(waiting.status).toBe(202);
    expect(waiting.body).toEqual({ status: 'awaiting_approval', poll_interval: 5 });

    const pending = await t.admin('get', '/api/v1/admin/enrollments?status=awaiting_approval');
    expect(pending.status).toBe(200);
    const item = pending.body.items.find((i: { id: string }) => i.id === enrollmentId);
    expect(item).toMatchObject({ site_code: 'ACME-PHX', method: 'pairing_code', hostname: 'vma-01', agent_version: '1.4.2', source_ip: '127.0.0.1' });
    expect(item.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);

    const approved = await t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/approve`).send({ notes: 'ticket 42' });
    expect(approved.status).toBe(200);

    const creds = await pollAfterInterval(t, pollToken);
    expect(creds.status).toBe(200);
    expect(creds.body).toMatchObject({ status: 'approved', site_code: 'ACME-PHX', credentials: { ssh: null } });
    const agentKey: string = creds.body.credentials.agent_key;
    expect(agentKey).toMatch(/^cak_[A-Za-z0-9_-]{43}$/);

    const again = await pollAfterInterval(t, pollToken);
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('credentials_already_issued');
    expect(JSON.stringify(again.body)).not.toContain(agentKey);

    const ok = await internalVerify(agentKey);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ agent_id: creds.body.agent_id, site_code: 'ACME-PHX', status: 'active' });

    const revoked = await t.admin('post', `/api/v1/admin/agents/${creds.body.agent_id}/revoke`).send({ reason: 'decommissioned' });
    expect(revoked.status).toBe(200);
    const refused = await internalVerify(agentKey);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_key');

    const twice = await t.admin('post', `/api/v1/admin/agents/${creds.body.agent_id}/revoke`).send({});
    expect(twice.status).toBe(409);

    // One JSON line per request, and no secret in any of them.
    const requests = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(5);
    for (const line of requests) expect(Object.keys(line)).toEqual(expect.arrayContaining(['method', 'route', 'status', 'duration_ms', 'request_id']));
    const all = t.logs.join('\n');
    for (const secret of [agentKey, pollToken, t.adminToken, t.serviceToken]) expect(all).not.toContain(secret);
  });

  it('answers a rejected enrollment with 403 and the operator reason', async () => {
    const { enrollmentId, pollToken } = await enrollAndVerify(t, 'ACME-PHX');
    const r = await t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/reject`).send({ reason: 'unknown appliance' });
    expect(r.status).toBe(200);
    const s = await pollAfterInterval(t, pollToken);
    expect(s.status).toBe(403);
    expect(s.body.error.code).toBe('enrollment_rejected');
    expect(s.body.error.message).toContain('unknown appliance');
    const late = await t.admin('post', `/api/v1/admin/enrollments/${enrollmentId}/approve`).send({});
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('invalid_state');
  });

  it('approves at once with an auto_approve pairing code', async () => {
    const key = newAgentKey();
    const { code } = await createCode(t, 'ACME-PHX', { auto_approve: true });
    const e = await enroll(t, enrollBody(key, 'ACME-PHX', code));
    const v = await verify(t, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.body.status).toBe('approved');
    const s = await status(t, v.body.poll_token);
    expect(s.status).toBe(200);
    expect(s.body.credentials.agent_key).toMatch(/^cak_/);
  });

  it('makes pairing-code enrollments wait for an operator even at an auto-policy site', async () => {
    await createSite(t, 'AUTO-PAIR', 'auto');
    const { verify: v } = await enrollAndVerify(t, 'AUTO-PAIR');
    expect(v.status).toBe('awaiting_approval');
  });

  it('gives pairing codes a 600 s lifetime by default and challenges 300 s', async () => {
    const now = t.clock.now().getTime();
    const code = await createCode(t, 'ACME-PHX');
    expect(new Date(code.expires_at).getTime() - now).toBe(600_000);
    expect(code.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const e = await enroll(t, enrollBody(newAgentKey(), 'ACME-PHX', code.code));
    expect(new Date(e.body.expires_at).getTime() - now).toBe(300_000);
    expect(Buffer.from(e.body.challenge, 'base64')).toHaveLength(32);
  });

  it('reads a pairing code case-insensitively, with spaces instead of hyphens or none at all', async () => {
    for (const variant of [(c: string) => c.toLowerCase().replaceAll('-', ' '), (c: string) => c.replaceAll('-', '')]) {
      const { code } = await createCode(t, 'ACME-PHX');
      const r = await enroll(t, enrollBody(newAgentKey(), 'acme-phx', variant(code)));
      expect(r.status).toBe(201);
    }
  });

  it('answers unknown api routes with the 404 envelope', async () => {
    for (const [method, path] of [['get', '/nope'], ['delete', '/api/v1/enroll'], ['put', '/api/v1/enroll/verify']] as const) {
      const r = await t.http[method](path);
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ error: { code: 'not_found', message: 'Not found' } });
    }
  });

  it('answers a repeated verify with a fresh poll token that replaces the old one', async () => {
    const key = newAgentKey();
    const { code } = await createCode(t, 'ACME-PHX');
    const e = await enroll(t, enrollBody(key, 'ACME-PHX', code));
    const sig = key.sign(e.body.enrollment_id, e.body.challenge);
    const first = await verify(t, e.body.enrollment_id, sig);
    const second = await verify(t, e.body.enrollment_id, sig);
    expect(second.status).toBe(200);
    expect(second.body.poll_token).not.toBe(first.body.poll_token);
    expect((await status(t, first.body.poll_token)).status).toBe(401);
    expect((await status(t, second.body.poll_token)).status).toBe(202);
  });

  it('fails the enrollment for good on the third bad signature', async () => {
    const key = newAgentKey();
    const other = newAgentKey();
    const { code } = await createCode(t, 'ACME-PHX');
    const e = await enroll(t, enrollBody(key, 'ACME-PHX', code));
    const id = e.body.enrollment_id;
    for (let i = 0; i < 3; i++) {
      const bad = await verify(t, id, other.sign(id, e.body.challenge));
      expect(bad.status).toBe(401);
      expect(bad.body.error.code).toBe('signature_invalid');
    }
    const good = await verify(t, id, key.sign(id, e.body.challenge));
    expect(good.status).toBe(401);
    expect(good.body.error.code).toBe('enrollment_denied');
  });

  it('tells a client polling too fast to slow down, growing the interval by 5 s', async () => {
    const { pollToken } = await enrollAndVerify(t, 'ACME-PHX');
    expect((await pollAfterInterval(t, pollToken)).status).toBe(202);
    const fast = await status(t, pollToken);
    expect(fast.status).toBe(429);
    expect(fast.body.error.code).toBe('slow_down');
    expect(fast.headers['retry-after']).toBe('10');
    const slow = await pollAfterInterval(t, pollToken, 10);
    expect(slow.status).toBe(202);
    expect(slow.body.poll_interval).toBe(10);
  });

  it('refuses an unknown or malformed poll token with 401 invalid_token', async () => {
    for (const token of ['ept_' + 'A'.repeat(43), 'nope', '']) {
      const r = await t.http.get('/api/v1/enroll/status').set('authorization', `Bearer ${token}`);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('invalid_token');
    }
    const none = await t.http.get('/api/v1/enroll/status');
    expect(none.status).toBe(401);
  });
});

describe('expiry, with the clock moved by hand', () => {
  it('refuses a pairing code past its TTL like any wrong code', async () => {
    const { code } = await createCode(t, 'ACME-PHX', { ttl_seconds: 60 });
    t.clock.advance(61_000);
    const r = await enroll(t, enrollBody(newAgentKey(), 'ACME-PHX', code));
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('enrollment_denied');
  });

  it('answers 410 expired_token for a challenge answered too late', async () => {
    const key = newAgentKey();
    const { code } = await createCode(t, 'ACME-PHX');
    const e = await enroll(t, enrollBody(key, 'ACME-PHX', code));
    t.clock.advance(301_000);
    const v = await verify(t, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.status).toBe(410);
    expect(v.body.error.code).toBe('expired_token');
  });

  it('expires an enrollment nobody approved within 24 h, and refuses a late approval', async () => {
    const a = await enrollAndVerify(t, 'ACME-PHX');
    const b = await enrollAndVerify(t, 'ACME-PHX');
    t.clock.advance(86_400_000 + 1000);
    // Operators never see a dead enrollment as pending.
    const pending = await t.admin('get', '/api/v1/admin/enrollments?status=awaiting_approval');
    expect(pending.body.items.map((i: { id: string }) => i.id)).not.toContain(b.enrollmentId);
    const expiredList = await t.admin('get', '/api/v1/admin/enrollments?status=expired');
    expect(expiredList.body.items.find((i: { id: string }) => i.id === b.enrollmentId)?.status).toBe('expired');
    const s = await status(t, a.pollToken);
    expect(s.status).toBe(410);
    expect(s.body.error.code).toBe('expired_token');
    const late = await t.admin('post', `/api/v1/admin/enrollments/${b.enrollmentId}/approve`).send({});
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('invalid_state');
    const after = await pollAfterInterval(t, b.pollToken);
    expect(after.status).toBe(410);
  });
});

describe('denials', () => {
  it('gives the same 401 body for unknown site, wrong, used, expired and revoked codes', async () => {
    await createSite(t, 'OTHER');
    const usedCode = await createCode(t, 'ACME-PHX');
    expect((await enroll(t, enrollBody(newAgentKey(), 'ACME-PHX', usedCode.code))).status).toBe(201);
    const expired = await createCode(t, 'ACME-PHX', { ttl_seconds: 60 });
    const revoked = await createCode(t, 'ACME-PHX');
    expect((await t.admin('delete', `/api/v1/admin/pairing-codes/${revoked.id}`)).status).toBe(204);
    const valid = await createCode(t, 'ACME-PHX');
    t.clock.advance(61_000);

    const attempts = [
      enrollBody(newAgentKey(), 'NO-SUCH-SITE', valid.code),
      enrollBody(newAgentKey(), 'OTHER', valid.code),
      enrollBody(newAgentKey(), 'ACME-PHX', 'AAAA-AAAA-AAAA'),
      enrollBody(newAgentKey(), 'ACME-PHX', usedCode.code),
      enrollBody(newAgentKey(), 'ACME-PHX', expired.code),
      enrollBody(newAgentKey(), 'ACME-PHX', revoked.code),
    ];
    const bodies = new Set<string>();
    for (const body of attempts) {
      const r = await enroll(t, body);
      expect(r.status).toBe(401);
      bodies.add(JSON.stringify(r.body));
    }
    expect(bodies.size).toBe(1);
    const [only] = [...bodies];
    expect(JSON.parse(only ?? '{}')).toEqual({
      error: { code: 'enrollment_denied', message: 'Enrollment denied: the site, pairing code or enrollment key is not valid' },
    });
    // The valid code was not consumed by the wrong-site attempt.
    expect((await enroll(t, enrollBody(newAgentKey(), 'ACME-PHX', valid.code))).status).toBe(201);
  });
});
