/**
 * The tunnel endpoint's internal routes and credentials.ssh: happy paths,
 * refusals, and the abuse every new route must withstand (roles, bad input).
 * Host keys (registration, audit, retirement) are in tunnel-host-keys.test.ts.
 */
import { parseSshEd25519PublicKey } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollAndVerify, pollAfterInterval, startTestApi, type TestApi } from '@airlock/api/testing';
import { HOST_KEY, startTunnelTestApi, type TunnelTestApi } from './tunnel-support.ts';

let h: TunnelTestApi;
let t: TestApi;
let tunnelToken: string;
beforeAll(async () => {
  h = await startTunnelTestApi('TUN');
  ({ t, tunnelToken } = h);
});
afterAll(async () => h.close());

const internal = (path: string, token?: string | null) => h.internal(path, token);
const approvedAgent = () => h.approvedAgent();

describe('credentials.ssh', () => {
  it('carries the endpoint, the account, the registered host keys and permit_open', async () => {
    expect((await internal('host-keys').send({ keys: [HOST_KEY] })).status).toBe(204);
    const a = await approvedAgent();
    expect(a.status.credentials.ssh).toEqual({
      host: 'oma.example.com',
      port: 443,
      user: 'airlock',
      known_hosts: `[oma.example.com]:443 ${HOST_KEY}\n`,
      permit_open: ['127.0.0.1:10809', '127.0.0.1:8081'],
      // Issue 21: no AIRLOCK_SSH_REMOTE_TARGET here, so no reverse forward.
      remote_forwards: [],
    });
  });

  it('is null when the api has no tunnel endpoint', async () => {
    const plain = await startTestApi();
    try {
      await createSite(plain, 'PLAIN');
      const e = await enrollAndVerify(plain, 'PLAIN');
      await plain.admin('post', `/api/v1/admin/enrollments/${e.enrollmentId}/approve`).send({});
      const s = await pollAfterInterval(plain, e.pollToken);
      expect(s.status).toBe(200);
      expect(s.body.credentials.ssh).toBeNull();
    } finally {
      await plain.close();
    }
  });
});

describe('authorized-keys', () => {
  it('answers an active agent by fingerprint and key, and nobody once it is revoked', async () => {
    const a = await approvedAgent();
    const hit = await internal('authorized-keys').send({ fingerprint: a.fingerprint, key_type: 'ssh-ed25519', key: a.blob });
    expect(hit.status).toBe(200);
    // `inactive` (issue 18) is empty while the agent is active.
    expect(hit.body).toEqual({
      keys: [{ agent_id: a.agentId, site_code: 'TUN', public_key: `ssh-ed25519 ${a.blob}`, remote_port: null }],
      permit_open: ['127.0.0.1:10809', '127.0.0.1:8081'],
      inactive: [],
    });
    // The right fingerprint with another key blob matches nothing.
    const other = parseSshEd25519PublicKey(HOST_KEY).canonical.split(' ')[1];
    expect((await internal('authorized-keys').send({ fingerprint: a.fingerprint, key_type: 'ssh-ed25519', key: other })).body.keys).toEqual([]);
    expect((await internal('authorized-keys').send({ fingerprint: a.fingerprint, key_type: 'ssh-rsa', key: a.blob })).body.keys).toEqual([]);
    expect((await t.admin('post', `/api/v1/admin/agents/${a.agentId}/revoke`).send({})).status).toBe(200);
    const after = await internal('authorized-keys').send({ fingerprint: a.fingerprint, key: a.blob });
    expect(after.body.keys).toEqual([]);
    // Named as a known agent's refused key, so the endpoint can audit it (strangers' keys are only counted).
    expect(after.body.inactive).toEqual([{ agent_id: a.agentId, site_code: 'TUN', status: 'revoked' }]);
  });

  it('answers unknown fingerprints with no keys', async () => {
    const res = await internal('authorized-keys').send({ fingerprint: `SHA256:${'A'.repeat(43)}` });
    expect(res.status).toBe(200);
    expect(res.body.keys).toEqual([]);
    expect(res.body.inactive).toEqual([]);
  });
});

describe('events', () => {
  it('writes tunnel.opened with the agent and its source IP, and moves last_seen_at', async () => {
    const a = await approvedAgent();
    t.clock.advance(60_000);
    const res = await internal('events').send({ event: 'opened', fingerprint: a.fingerprint, agent_id: a.agentId, source_ip: '203.0.113.7', source_port: 50123 });
    expect(res.status).toBe(204);
    const audit = await t.admin('get', `/api/v1/admin/audit?agent_id=${a.agentId}&event_type=tunnel.opened`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ event_type: 'tunnel.opened', agent_id: a.agentId, source_ip: '203.0.113.7', site_code: 'TUN' });
    const agents = await t.admin('get', '/api/v1/admin/agents?status=active');
    const row = agents.body.items.find((x: { id: string }) => x.id === a.agentId);
    expect(row.last_seen_at).toBe(t.clock.now().toISOString());
    const closed = await internal('events').send({ event: 'closed', fingerprint: a.fingerprint, agent_id: a.agentId, source_ip: '203.0.113.7', reason: 'revoked' });
    expect(closed.status).toBe(204);
    const c = await t.admin('get', `/api/v1/admin/audit?agent_id=${a.agentId}&event_type=tunnel.closed`);
    expect(c.body.items[0].details.reason).toBe('revoked');
  });

  it('moves last_seen_at for an active agent only; an open seen for a revoked agent is still audited', async () => {
    const a = await approvedAgent();
    await t.admin('post', `/api/v1/admin/agents/${a.agentId}/revoke`).send({});
    const seenBefore = (await t.admin('get', '/api/v1/admin/agents')).body.items.find((x: { id: string }) => x.id === a.agentId).last_seen_at;
    t.clock.advance(60_000);
    const res = await internal('events').send({ event: 'opened', fingerprint: a.fingerprint, agent_id: a.agentId, source_ip: '203.0.113.8' });
    expect(res.status).toBe(204);
    const row = (await t.admin('get', '/api/v1/admin/agents')).body.items.find((x: { id: string }) => x.id === a.agentId);
    expect(row.last_seen_at).toBe(seenBefore);
    expect((await t.admin('get', `/api/v1/admin/audit?agent_id=${a.agentId}&event_type=tunnel.opened`)).body.items).toHaveLength(1);
  });

  it('writes tunnel.denied naming the agent a refused key belongs to, or none', async () => {
    const a = await approvedAgent();
    await t.admin('post', `/api/v1/admin/agents/${a.agentId}/revoke`).send({});
    expect((await internal('events').send({ event: 'denied', fingerprint: a.fingerprint, source_ip: '198.51.100.9' })).status).toBe(204);
    const audit = await t.admin('get', `/api/v1/admin/audit?agent_id=${a.agentId}&event_type=tunnel.denied`);
    expect(audit.body.items[0]).toMatchObject({ agent_id: a.agentId, source_ip: '198.51.100.9' });
    const unknownFp = `SHA256:${'B'.repeat(43)}`;
    expect((await internal('events').send({ event: 'denied', fingerprint: unknownFp, source_ip: '198.51.100.9' })).status).toBe(204);
    const all = await t.admin('get', '/api/v1/admin/audit?event_type=tunnel.denied');
    expect(all.body.items.some((i: { details: { fingerprint: string }; agent_id: string | null }) => i.details.fingerprint === unknownFp && i.agent_id === null)).toBe(true);
  });

  it('refuses an open for an agent that does not hold the key, and an open without agent_id', async () => {
    const a = await approvedAgent();
    const b = await approvedAgent();
    const wrong = await internal('events').send({ event: 'opened', fingerprint: b.fingerprint, agent_id: a.agentId, source_ip: '203.0.113.7' });
    expect(wrong.status).toBe(404);
    expect(wrong.body.error.code).toBe('not_found');
    const missing = await internal('events').send({ event: 'opened', fingerprint: a.fingerprint, source_ip: '203.0.113.7' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.fields).toEqual({ agent_id: 'is required' });
  });
});

describe('active-agents', () => {
  it('returns only the ids still active', async () => {
    const a = await approvedAgent();
    const b = await approvedAgent();
    await t.admin('post', `/api/v1/admin/agents/${b.agentId}/revoke`).send({});
    const unknown = '00000000-0000-4000-8000-000000000000';
    const res = await internal('active-agents').send({ agent_ids: [a.agentId, b.agentId, unknown] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ active: [a.agentId] });
    expect((await internal('active-agents').send({ agent_ids: [] })).body).toEqual({ active: [] });
  });
});

describe('abuse', () => {
  const FP = `SHA256:${'C'.repeat(43)}`;
  const ROUTES: Array<[string, object]> = [
    ['authorized-keys', { fingerprint: FP }],
    ['host-keys', { keys: [HOST_KEY] }],
    ['events', { event: 'denied', fingerprint: FP, source_ip: '192.0.2.1' }],
    ['active-agents', { agent_ids: [] }],
  ];

  // Issue 18: service tokens no longer reach these routes (behaviour changed on purpose); tunnel does.
  it.each(ROUTES)('%s: no token is 401, an auditor or a service token is 403, tunnel and admin pass', async (route, body) => {
    const none = await internal(route, null).send(body);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    const bogus = await internal(route, `aop_${'x'.repeat(43)}`).send(body);
    expect(bogus.status).toBe(401);
    for (const token of [t.auditorToken, t.serviceToken]) {
      const refused = await internal(route, token).send(body);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
    }
    expect([200, 204]).toContain((await internal(route, tunnelToken).send(body)).status);
    expect([200, 204]).toContain((await internal(route, t.adminToken).send(body)).status);
  });

  it('a tunnel token reaches nothing else: agent keys, certificates, admin routes', async () => {
    const calls = [
      t.http.post('/api/v1/internal/agent-keys/verify').send({ agent_key: `cak_${'A'.repeat(43)}` }),
      t.http.post('/api/v1/internal/certificates/verify').send({ certificate: 'x' }),
      t.http.get('/api/v1/admin/agents'),
      t.http.get('/api/v1/admin/tunnel/host-keys'),
      t.http.post('/api/v1/admin/tunnel/host-keys/retire').send({ fingerprint: FP }),
    ];
    for (const call of calls) {
      const r = await call.set('authorization', `Bearer ${tunnelToken}`);
      expect(r.status).toBe(403);
    }
    // The CA bundle is open to every operator role (contract).
    expect((await t.http.get('/api/v1/internal/ca').set('authorization', `Bearer ${tunnelToken}`)).status).toBe(200);
  });

  it.each(ROUTES)('%s: unknown fields, wrong types and non-JSON are refused with the envelope', async (route, body) => {
    const extra = await internal(route).send({ ...body, sneaky: 1 });
    expect(extra.status).toBe(400);
    expect(extra.body.error.fields.sneaky).toBe('unknown field');
    const arr = await internal(route).send([body]);
    expect(arr.status).toBe(400);
    const text = await internal(route).set('content-type', 'text/plain').send('fingerprint=x');
    expect(text.status).toBe(415);
    const big = await internal(route).set('content-type', 'application/json').send(JSON.stringify({ ...body, pad: 'x'.repeat(20_000) }));
    expect(big.status).toBe(413);
  });

  it('refuses malformed fingerprints, keys and addresses without echoing them', async () => {
    const hostile = ['SHA256:$(reboot)', `SHA256:${'A'.repeat(5000)}`, 'MD5:aa:bb', `SHA256:${'A'.repeat(42)};`, ''];
    for (const fingerprint of hostile) {
      const res = await internal('authorized-keys').send({ fingerprint });
      expect(res.status).toBe(400);
      expect(res.body.error.fields.fingerprint).toBeDefined();
      expect(JSON.stringify(res.body)).not.toContain('reboot');
    }
    expect((await internal('authorized-keys').send({ fingerprint: FP, key: 'AAAA"; rm -rf /' })).status).toBe(400);
    expect((await internal('authorized-keys').send({ fingerprint: FP, key: 'A'.repeat(5000) })).status).toBe(400);
    expect((await internal('events').send({ event: 'denied', fingerprint: FP, source_ip: '1.2.3.4\nX' })).status).toBe(400);
    expect((await internal('events').send({ event: 'exploded', fingerprint: FP, source_ip: '1.2.3.4' })).status).toBe(400);
    expect((await internal('events').send({ event: 'opened', fingerprint: FP, agent_id: 'not-a-uuid', source_ip: '1.2.3.4' })).status).toBe(400);
    expect((await internal('active-agents').send({ agent_ids: Array.from({ length: 401 }, () => '00000000-0000-4000-8000-000000000000') })).status).toBe(400);
    expect((await internal('active-agents').send({ agent_ids: ["' or 1=1 --"] })).status).toBe(400);
  });

  it('refuses host keys that are not "TYPE BASE64" lines, or too many', async () => {
    for (const keys of [[], ['ssh-ed25519 AAAA\nevil.example ssh-ed25519 AAAA'], ['ssh-dss AAAAB3'], [`${HOST_KEY} comment`], Array.from({ length: 9 }, () => HOST_KEY)]) {
      const res = await internal('host-keys').send({ keys });
      expect(res.status).toBe(400);
    }
  });
});
