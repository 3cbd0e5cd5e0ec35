/**
 * Issue 21 at the api: each agent's reverse port (allocation, keeping,
 * freeing, exhaustion, a race with one winner) and live tunnel state
 * (session reports, several endpoints, leases that run out), with the
 * abuse every new route must withstand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapExpiredEndpoints } from '../src/domain/tunnel-state.ts';
import type { TestApi } from '@airlock/api/testing';
import { enrollWithCsr, renew } from './credential-flows.ts';
import { startTunnelTestApi, type TunnelTestApi } from './tunnel-support.ts';

const SITE = 'REV';
let h: TunnelTestApi;
let t: TestApi;
// A range of three ports: enough for the tests below to fill it.
const FIRST = 20000;
const LAST = 20002;

beforeAll(async () => {
  h = await startTunnelTestApi(SITE, { AIRLOCK_SSH_REMOTE_TARGET: '127.0.0.1:8081', AIRLOCK_SSH_REMOTE_PORTS: `${FIRST}-${LAST}` });
  t = h.t;
});
afterAll(async () => h.close());

type Forwards = Array<{ listen: string; to: string }>;
const portOf = (f: Forwards) => Number(f[0]?.listen.split(':')[1]);
const agentRecord = async (id: string) => {
  const r = await t.admin('get', '/api/v1/admin/agents');
  return (r.body.items as Array<{ id: string; tunnel: { connected: boolean; since: string | null; source_ip: string | null; remote_port: number | null } }>).find((a) => a.id === id);
};
const auditOf = async (agentId: string, type: string) =>
  (await t.admin('get', `/api/v1/admin/audit?agent_id=${agentId}&event_type=${type}`)).body.items as Array<{ source_ip: string | null; details: Record<string, unknown> }>;
const report = (endpoint: string, sessions: Array<{ session: string; agent_id: string; source_ip?: string }>, leaseSeconds = 30) =>
  h.internal('sessions').send({
    endpoint,
    lease_seconds: leaseSeconds,
    sessions: sessions.map((s) => ({ source_ip: '203.0.113.7', opened_at: t.clock.now().toISOString(), ...s })),
  });

describe('reverse ports', () => {
  const agents: Array<{ agentId: string; port: number; agent: Awaited<ReturnType<typeof enrollWithCsr>>['agent'] }> = [];

  it('gives two agents two ports of the range, in credentials, the key answer and the agent record', async () => {
    for (let i = 0; i < 2; i++) {
      const e = await enrollWithCsr(t, SITE);
      const fwd = e.answer.credentials.ssh.remote_forwards as Forwards;
      expect(fwd).toHaveLength(1);
      expect(fwd[0]?.to).toBe('127.0.0.1:8081');
      expect(fwd[0]?.listen).toMatch(/^127\.0\.0\.1:\d+$/);
      agents.push({ agentId: e.answer.agent_id, port: portOf(fwd), agent: e.agent });
    }
    const [a, b] = agents;
    expect(a?.port).not.toBe(b?.port);
    for (const x of agents) {
      expect(x.port).toBeGreaterThanOrEqual(FIRST);
      expect(x.port).toBeLessThanOrEqual(LAST);
      expect((await agentRecord(x.agentId))?.tunnel).toEqual({ connected: false, since: null, source_ip: null, remote_port: x.port });
    }
    const blob = a?.agent.publicKey.split(' ')[1];
    const keys = await h.internal('authorized-keys').send({ fingerprint: a?.agent.fingerprint, key_type: 'ssh-ed25519', key: blob });
    expect(keys.body.keys[0].remote_port).toBe(a?.port);
  });

  it('keeps the port across a credentials refresh and a key rotation', async () => {
    const a = agents[0];
    if (!a) throw new Error('no agent');
    const r1 = await renew(t, a.agent);
    expect(r1.status).toBe(200);
    expect(portOf(r1.body.credentials.ssh.remote_forwards)).toBe(a.port);
    const r2 = await renew(t, a.agent, { rotate_agent_key: true });
    expect(r2.status).toBe(200);
    expect(portOf(r2.body.credentials.ssh.remote_forwards)).toBe(a.port);
  });

  it('approves without a reverse forward once the range is exhausted, with a warning, an audit row and a metric', async () => {
    const third = await enrollWithCsr(t, SITE);
    agents.push({ agentId: third.answer.agent_id, port: portOf(third.answer.credentials.ssh.remote_forwards), agent: third.agent });
    const fourth = await enrollWithCsr(t, SITE);
    // Approved and collected all the same (enrollWithCsr checked the 200), only without -R.
    expect(fourth.answer.credentials.ssh.remote_forwards).toEqual([]);
    expect(fourth.answer.credentials.ssh.permit_open).toEqual(['127.0.0.1:10809', '127.0.0.1:8081']);
    expect((await agentRecord(fourth.answer.agent_id))?.tunnel.remote_port).toBeNull();
    const rows = await auditOf(fourth.answer.agent_id, 'tunnel.remote_ports_exhausted');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.details.range).toBe(`${FIRST}-${LAST}`);
    expect(t.logs.some((l) => l.includes('no free reverse tunnel port'))).toBe(true);
    const metrics = await t.api.deps.metrics?.registry.metrics();
    expect(metrics).toMatch(/^api_tunnel_remote_ports_exhausted_total 1$/m);
    // Its key answer grants no port at all: the endpoint then refuses every -R of it.
    const keys = await h.internal('authorized-keys').send({ fingerprint: fourth.agent.fingerprint, key_type: 'ssh-ed25519', key: fourth.agent.publicKey.split(' ')[1] });
    expect(keys.body.keys[0].remote_port).toBeNull();
    // A refresh later, once a port is free, gets one.
    const freed = agents[1];
    if (!freed) throw new Error('no agent');
    expect((await t.admin('post', `/api/v1/admin/agents/${freed.agentId}/revoke`).send({})).status).toBe(200);
    expect((await agentRecord(freed.agentId))?.tunnel.remote_port).toBeNull();
    const later = await renew(t, fourth.agent);
    expect(portOf(later.body.credentials.ssh.remote_forwards)).toBe(freed.port);
  });
});

describe('a race for the last free port', () => {
  it('has exactly one winner; the others are approved without one', async () => {
    const r = await startTunnelTestApi('RACE', { AIRLOCK_SSH_REMOTE_TARGET: '127.0.0.1:8081', AIRLOCK_SSH_REMOTE_PORTS: '21000-21000' });
    try {
      // Every agent enrolled first (no port asked yet: credentials without -R are not collected until the status read).
      const answers = await Promise.all(Array.from({ length: 6 }, () => enrollWithCsr(r.t, 'RACE')));
      const ports = answers.map((a) => a.answer.credentials.ssh.remote_forwards as Forwards).filter((f) => f.length > 0);
      expect(ports).toHaveLength(1);
      expect(ports[0]?.[0]?.listen).toBe('127.0.0.1:21000');
      const exhausted = (await r.t.admin('get', '/api/v1/admin/audit?event_type=tunnel.remote_ports_exhausted').send()).body.items;
      expect(exhausted).toHaveLength(5);
    } finally {
      await r.close();
    }
  });
});

describe('live state', () => {
  let a: string;
  let b: string;
  beforeAll(async () => {
    a = (await enrollWithCsr(t, SITE)).answer.agent_id;
    b = (await enrollWithCsr(t, SITE)).answer.agent_id;
  });

  it('follows the reports: connected, with since and source; the filter; tunnel.connected once', async () => {
    expect((await report('ep-1', [{ session: '101:5', agent_id: a }])).body).toEqual({ connected_agents: 1 });
    const rec = await agentRecord(a);
    expect(rec?.tunnel).toMatchObject({ connected: true, source_ip: '203.0.113.7', since: t.clock.now().toISOString() });
    // The same report again (a lease renewal) changes nothing and writes nothing.
    await report('ep-1', [{ session: '101:5', agent_id: a }]);
    const rows = await auditOf(a, 'tunnel.connected');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.source_ip).toBe('203.0.113.7');
    expect(rows[0]?.details).toMatchObject({ source_ip: '203.0.113.7', endpoint: 'ep-1' });
    const connected = (await t.admin('get', '/api/v1/admin/agents?tunnel=connected')).body.items.map((x: { id: string }) => x.id);
    const disconnected = (await t.admin('get', '/api/v1/admin/agents?tunnel=disconnected')).body.items.map((x: { id: string }) => x.id);
    expect(connected).toContain(a);
    expect(connected).not.toContain(b);
    expect(disconnected).toContain(b);
    expect(disconnected).not.toContain(a);
    const metrics = await t.api.deps.metrics?.registry.metrics();
    expect(metrics).toMatch(new RegExp(`^api_tunnel_connected_agents\\{site_code="${SITE}"\\} 1$`, 'm'));
  });

  it('stays connected while any endpoint holds a session, and disconnects when the last goes', async () => {
    await report('ep-2', [{ session: '202:9', agent_id: a, source_ip: '198.51.100.4' }]);
    await report('ep-1', []);
    expect((await agentRecord(a))?.tunnel.connected).toBe(true);
    expect(await auditOf(a, 'tunnel.disconnected')).toHaveLength(0);
    t.clock.advance(1000);
    await report('ep-2', []);
    const rec = await agentRecord(a);
    expect(rec?.tunnel).toMatchObject({ connected: false, since: t.clock.now().toISOString() });
    expect(await auditOf(a, 'tunnel.disconnected')).toHaveLength(1);
  });

  it('shows the sessions of an endpoint whose lease ran out disconnected', async () => {
    await report('ep-dies', [{ session: '303:1', agent_id: b }], 10);
    expect((await agentRecord(b))?.tunnel.connected).toBe(true);
    // Not yet: the lease is live.
    expect(await reapExpiredEndpoints(t.api.deps)).toBe(0);
    t.clock.advance(11_000);
    expect(await reapExpiredEndpoints(t.api.deps)).toBe(1);
    expect((await agentRecord(b))?.tunnel.connected).toBe(false);
    const rows = await auditOf(b, 'tunnel.disconnected');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.details.endpoint).toBe('lease_expired');
    // The endpoint comes back (its report starts a new lease): connected again.
    await report('ep-dies', [{ session: '303:1', agent_id: b }], 10);
    expect((await agentRecord(b))?.tunnel.connected).toBe(true);
  });

  it('ignores a session of an agent id it does not know, and keeps the rest of the report', async () => {
    const r = await report('ep-3', [
      { session: '404:1', agent_id: '99999999-9999-4999-8999-999999999999' },
      { session: '404:2', agent_id: a },
    ]);
    expect(r.status).toBe(200);
    expect((await agentRecord(a))?.tunnel.connected).toBe(true);
  });
});

describe('abuse of the sessions route', () => {
  it('needs the tunnel role and a well-formed, bounded body', async () => {
    const body = { endpoint: 'ep-x', lease_seconds: 30, sessions: [] };
    expect((await h.internal('sessions', null).send(body)).status).toBe(401);
    expect((await h.internal('sessions', t.auditorToken).send(body)).status).toBe(403);
    expect((await h.internal('sessions', t.serviceToken).send(body)).status).toBe(403);
    for (const bad of [
      { ...body, endpoint: 'a b' },
      { ...body, endpoint: 'x'.repeat(200) },
      { ...body, lease_seconds: 1 },
      { ...body, lease_seconds: 100_000 },
      { ...body, sessions: [{ session: '1', agent_id: 'nope', source_ip: '1.2.3.4', opened_at: '2026-01-01T00:00:00Z' }] },
      { ...body, sessions: [{ session: "1'; drop", agent_id: '99999999-9999-4999-8999-999999999999', source_ip: '1.2.3.4', opened_at: '2026-01-01T00:00:00Z' }] },
      { ...body, extra: 1 },
    ]) {
      const r = await h.internal('sessions').send(bad);
      expect(r.status, JSON.stringify(bad).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    const huge = { ...body, sessions: Array.from({ length: 5001 }, (_, i) => ({ session: `s${i}`, agent_id: '99999999-9999-4999-8999-999999999999', source_ip: '1.2.3.4', opened_at: '2026-01-01T00:00:00Z' })) };
    expect([400, 413]).toContain((await h.internal('sessions').send(huge)).status);
  });

  it('refuses tunnel=anything-else on the agent list', async () => {
    const r = await t.admin('get', '/api/v1/admin/agents?tunnel=maybe');
    expect(r.status).toBe(400);
  });
});

describe('no reverse target configured', () => {
  it('issues no reverse forward and allocates no port', async () => {
    const plain = await startTunnelTestApi('NOREV');
    try {
      const e = await enrollWithCsr(plain.t, 'NOREV');
      expect(e.answer.credentials.ssh.remote_forwards).toEqual([]);
      const list = (await plain.t.admin('get', '/api/v1/admin/agents')).body.items;
      expect(list[0].tunnel.remote_port).toBeNull();
    } finally {
      await plain.close();
    }
  });
});
