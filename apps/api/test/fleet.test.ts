/**
 * Issue 22, the fleet: labels kept on the agent and edited, keyset paging
 * and filters on every list, per-site source allowlists, machine_uid unique
 * per tenant. Happy paths, refusals and abuse.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCode, enroll, enrollAndVerify, enrollBody, startTestApi, verify, type TestApi } from '@airlock/api/testing';
import { newAgentKey } from '@airlock/testing';

let t: TestApi;
beforeAll(async () => {
  // The edge's address is trusted, so a test can speak from any source with X-Forwarded-For.
  t = await startTestApi({ env: { API_TRUSTED_PROXIES: '127.0.0.1' } });
  for (const site of ['FLEET-A', 'FLEET-B']) expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: site, name: site })).status).toBe(201);
  expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'FLEET-AUTO', name: 'auto', policy: 'auto' })).status).toBe(201);
}, 60_000);
afterAll(async () => t?.close());

const approveNew = async (site: string, extra: Record<string, unknown> = {}) => {
  const e = await enrollAndVerify(t, site, extra);
  expect((await t.admin('post', `/api/v1/admin/enrollments/${e.enrollmentId}/approve`).send({})).status).toBe(200);
  const list = await t.admin('get', `/api/v1/admin/agents?site_code=${site}&q=${encodeURIComponent(e.key.fingerprint)}`);
  expect(list.body.items).toHaveLength(1);
  return list.body.items[0] as { id: string; labels: Record<string, string>; approved_by: string | null; approved_at: string | null; hostname: string };
};

/** Every page of a list, following next_cursor; the pages as they came. */
const pages = async (url: string) => {
  const out: Array<{ items: Array<{ id: string }>; next_cursor: string | null }> = [];
  let cursor: string | null = null;
  do {
    const res = await t.admin('get', `${url}${url.includes('?') ? '&' : '?'}${cursor ? `cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(res.body);
    cursor = res.body.next_cursor;
  } while (cursor && out.length < 50);
  return out;
};

describe('labels on the agent', () => {
  it('copies the enrollment labels at approval, with who approved and when', async () => {
    const a = await approveNew('FLEET-A', { hostname: 'lab-01', labels: { company: 'Acme', department: 'IT', tags: 'dmz,phx' } });
    expect(a.labels).toEqual({ company: 'Acme', department: 'IT', tags: 'dmz,phx' });
    expect(a.approved_by).toBe('alice');
    expect(a.approved_at).not.toBeNull();
  });

  it("says `policy` for an automatic approval, and keeps the agent's labels when the machine re-enrolls", async () => {
    const key = newAgentKey();
    const rotated = await t.admin('post', '/api/v1/admin/sites/FLEET-AUTO/enrollment-key').send({});
    const first = await enroll(t, { site_code: 'FLEET-AUTO', enrollment_key: rotated.body.key, public_key: key.publicKey, hostname: 'auto-01', machine_uid: 'auto-machine-0001', labels: { device_type: 'appliance' } });
    expect((await verify(t, first.body.enrollment_id, key.sign(first.body.enrollment_id, first.body.challenge))).body.status).toBe('approved');
    const [agent] = (await t.admin('get', '/api/v1/admin/agents?site_code=FLEET-AUTO')).body.items;
    expect(agent).toMatchObject({ approved_by: 'policy', labels: { device_type: 'appliance' }, tenant_code: 'default' });
    // An operator edits them; a later re-enrollment of the same machine (a new key) does not undo that.
    expect((await t.admin('patch', `/api/v1/admin/agents/${agent.id}`).send({ labels: { device_type: 'router' } })).status).toBe(200);
    const newKey = newAgentKey();
    const again = await enroll(t, { site_code: 'FLEET-AUTO', enrollment_key: rotated.body.key, public_key: newKey.publicKey, hostname: 'auto-01', machine_uid: 'auto-machine-0001', labels: { device_type: 'other' } });
    const verified = await verify(t, again.body.enrollment_id, newKey.sign(again.body.enrollment_id, again.body.challenge));
    // A new key for a known machine, unsigned by the old one: an operator confirms it.
    expect(verified.body.status).toBe('pending_confirmation');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${again.body.enrollment_id}/approve`).send({})).status).toBe(200);
    const after = await t.admin('get', `/api/v1/admin/agents?site_code=FLEET-AUTO`);
    expect(after.body.items[0].labels).toEqual({ device_type: 'router' });
  });

  it('replaces labels with PATCH, audited with before and after', async () => {
    const a = await approveNew('FLEET-A', { hostname: 'lab-02', labels: { company: 'Acme' } });
    const res = await t.admin('patch', `/api/v1/admin/agents/${a.id}`).send({ labels: { company: 'Globex', site: 'phx' } });
    expect(res.status).toBe(200);
    expect(res.body.labels).toEqual({ company: 'Globex', site: 'phx' });
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=agent.labels_changed&agent_id=${a.id}`);
    expect(audit.body.items[0]).toMatchObject({ actor: 'alice', details: expect.objectContaining({ from: { company: 'Acme' }, to: { company: 'Globex', site: 'phx' } }) });
  });

  it('refuses malformed labels with 400 and changes nothing (abuse)', async () => {
    const a = await approveNew('FLEET-A', { hostname: 'lab-03', labels: { company: 'Acme' } });
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    for (const body of [
      { labels: tooMany },
      { labels: { 'Bad Key': 'v' } },
      { labels: { company: 1 } },
      { labels: { company: 'x'.repeat(129) } },
      { labels: { company: 'bell\u0007' } },
      { labels: JSON.parse('{"__proto__": "x"}') },
      { labels: [] },
      { labels: { company: 'ok' }, extra: true },
      {},
    ]) {
      const res = await t.admin('patch', `/api/v1/admin/agents/${a.id}`).send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect((await t.admin('patch', '/api/v1/admin/agents/00000000-0000-4000-8000-000000000000').send({ labels: {} })).status).toBe(404);
    expect((await t.admin('patch', '/api/v1/admin/agents/not-a-uuid').send({ labels: {} })).status).toBe(404);
    const now = await t.admin('get', `/api/v1/admin/agents?q=${encodeURIComponent('lab-03')}`);
    expect(now.body.items[0].labels).toEqual({ company: 'Acme' });
  });

  it('filters by label: several must all match', async () => {
    await approveNew('FLEET-B', { hostname: 'flt-1', labels: { company: 'Initech', device_type: 'appliance' } });
    await approveNew('FLEET-B', { hostname: 'flt-2', labels: { company: 'Initech', device_type: 'router' } });
    await approveNew('FLEET-B', { hostname: 'flt-3', labels: { company: 'Umbrella', device_type: 'appliance' } });
    const host = (r: { body: { items: Array<{ hostname: string }> } }) => r.body.items.map((i) => i.hostname).sort();
    expect(host(await t.admin('get', '/api/v1/admin/agents?label=company:Initech'))).toEqual(['flt-1', 'flt-2']);
    expect(host(await t.admin('get', '/api/v1/admin/agents?label=company:Initech&label=device_type:appliance'))).toEqual(['flt-1']);
    expect(host(await t.admin('get', '/api/v1/admin/agents?label=company:Initech&label=company:Umbrella'))).toEqual([]);
    expect(host(await t.admin('get', '/api/v1/admin/agents?label=__proto__:x'))).toEqual([]);
    for (const bad of ['label=nocolon', 'label=Bad:x', `label=${'k'.repeat(33)}:v`, 'status=active&status=revoked', 'limit=0', 'limit=501', 'limit=ten', 'cursor=bogus', 'tunnelx=1']) {
      const res = await t.admin('get', `/api/v1/admin/agents?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
  });
});

describe('paged lists', () => {
  it('pages agents newest first by keyset: every agent once, never more than a page, next_cursor null at the end', async () => {
    for (let i = 0; i < 5; i++) await approveNew('FLEET-B', { hostname: `pg-${i}` });
    const walked = await pages('/api/v1/admin/agents?limit=3');
    expect(walked.every((p) => p.items.length <= 3)).toBe(true);
    expect(walked.at(-1)?.next_cursor).toBeNull();
    const ids = walked.flatMap((p) => p.items.map((i) => i.id));
    expect(new Set(ids).size).toBe(ids.length);
    const total = await t.api.deps.db.execute<{ n: number }>(sql`select count(*)::int as n from agents`);
    expect(ids).toHaveLength(total[0]?.n ?? -1);
    // Newest first, ties broken by id (the test clock gives many agents one created_at).
    const rows = await t.api.deps.db.execute<{ id: string }>(sql`select id from agents order by created_at desc, id desc`);
    expect(ids).toEqual(rows.map((r) => r.id));
  });

  it('filters agents by site, status, tenant and hostname prefix or exact fingerprint, and pages the filtered list', async () => {
    const prefix = await pages('/api/v1/admin/agents?q=pg-&limit=2');
    expect(prefix.flatMap((p) => p.items).map((i) => (i as unknown as { hostname: string }).hostname).sort()).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-3', 'pg-4']);
    expect((await t.admin('get', '/api/v1/admin/agents?q=PG-')).body.items).toEqual([]);
    const site = await t.admin('get', '/api/v1/admin/agents?site_code=FLEET-AUTO&status=active&tenant_code=default');
    expect(site.body.items.map((a: { site_code: string }) => a.site_code)).toEqual(['FLEET-AUTO']);
    expect((await t.admin('get', '/api/v1/admin/agents?status=revoked')).body.items).toEqual([]);
    expect((await t.admin('get', '/api/v1/admin/agents?tenant_code=nobody')).body.items).toEqual([]);
  });

  it('pages enrollments, pairing codes and sites the same way, with their filters', async () => {
    const enrollments = await pages('/api/v1/admin/enrollments?site_code=FLEET-B&limit=4');
    expect(enrollments.length).toBeGreaterThan(1);
    const e = enrollments.flatMap((p) => p.items) as unknown as Array<{ id: string; site_code: string }>;
    expect(new Set(e.map((x) => x.id)).size).toBe(e.length);
    expect(e.every((x) => x.site_code === 'FLEET-B')).toBe(true);
    for (let i = 0; i < 3; i++) await createCode(t, 'FLEET-A');
    const codes = (await pages('/api/v1/admin/pairing-codes?site_code=FLEET-A&status=active&limit=2')).flatMap((p) => p.items) as unknown as Array<{ site_code: string; status: string }>;
    expect(codes.length).toBeGreaterThanOrEqual(3);
    expect(codes.every((c) => c.site_code === 'FLEET-A' && c.status === 'active')).toBe(true);
    const sites = (await pages('/api/v1/admin/sites?limit=1')).flatMap((p) => p.items) as unknown as Array<{ site_code: string }>;
    expect(sites.map((s) => s.site_code)).toEqual(['FLEET-A', 'FLEET-AUTO', 'FLEET-B']);
    expect((await t.admin('get', '/api/v1/admin/sites?cursor=xyz')).status).toBe(400);
    expect((await t.admin('get', '/api/v1/admin/pairing-codes?limit=501')).status).toBe(400);
  });

  it('answers 100 items by default and at most 500', async () => {
    const res = await t.admin('get', '/api/v1/admin/enrollments?limit=500');
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(500);
    const plan = await t.api.deps.db.execute<{ 'QUERY PLAN': string }>(
      sql`explain select * from agents where labels @> '{"company":"Acme"}'::jsonb order by created_at desc, id desc limit 101`,
    );
    // The planner may prefer a scan on a table this small; what matters is that nothing reads with OFFSET.
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).not.toMatch(/offset/i);
  });
});

describe('source allowlists', () => {
  const from = (ip: string, body: object) => t.http.post('/api/v1/enroll').set('x-forwarded-for', ip).send(body);

  it('creates and edits a site allowlist (IPv4 and IPv6), audited, and refuses malformed CIDRs', async () => {
    const created = await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'FENCED', name: 'fenced', allowed_cidrs: ['198.51.100.0/24', '2001:db8::/32'] });
    expect(created.status).toBe(201);
    expect(created.body.allowed_cidrs).toEqual(['198.51.100.0/24', '2001:db8::/32']);
    for (const bad of [['10.0.0.0/33'], ['::/129'], ['fe80::1%eth0/64'], ['10.0.0.0/8/8'], ['not-an-ip'], [':::::'], ['1.2.3.4.5'], 'x', [1]]) {
      const res = await t.admin('patch', '/api/v1/admin/sites/FENCED').send({ allowed_cidrs: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    expect((await t.admin('patch', '/api/v1/admin/sites/FENCED').send({})).status).toBe(400);
    expect((await t.admin('patch', '/api/v1/admin/sites/FENCED').send({ tenant_code: 'other' })).status).toBe(400);
    const renamed = await t.admin('patch', '/api/v1/admin/sites/FENCED').send({ name: 'Fenced site', policy: 'manual' });
    expect(renamed.body).toMatchObject({ name: 'Fenced site', allowed_cidrs: ['198.51.100.0/24', '2001:db8::/32'] });
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=site.updated&site_code=FENCED');
    expect(audit.body.items[0].details.changed).toEqual({ name: { from: 'fenced', to: 'Fenced site' }, policy: { from: 'manual', to: 'manual' } });
    expect((await t.admin('patch', '/api/v1/admin/sites/NO-SUCH').send({ name: 'x' })).status).toBe(404);
  });

  it('refuses an enroll from outside the allowlist exactly as an invalid credential, audited, consuming nothing', async () => {
    const { code } = await createCode(t, 'FENCED');
    const key = newAgentKey();
    const body = enrollBody(key, 'FENCED', code);
    const outside = await from('203.0.113.9', body);
    const badCode = await from('198.51.100.7', enrollBody(key, 'FENCED', 'AAAA-BBBB-CCCC'));
    expect(outside.status).toBe(401);
    expect(badCode.status).toBe(401);
    const strip = (b: { error: Record<string, unknown> }) => ({ ...b, error: { ...b.error, request_id: null } });
    expect(strip(outside.body)).toEqual(strip(badCode.body));
    expect(Object.keys(outside.headers).sort()).toEqual(Object.keys(badCode.headers).sort());
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=enroll.source_refused&site_code=FENCED');
    expect(audit.body.items[0]).toMatchObject({ source_ip: '203.0.113.9', details: expect.objectContaining({ method: 'pairing_code' }) });
    // The code was not spent: the same code works from inside, over IPv4 and IPv6 alike.
    expect((await from('198.51.100.7', body)).status).toBe(201);
    const second = await createCode(t, 'FENCED');
    expect((await from('2001:db8:1::5', enrollBody(newAgentKey(), 'FENCED', second.code))).status).toBe(201);
    const third = await createCode(t, 'FENCED');
    expect((await from('2001:db9::5', enrollBody(newAgentKey(), 'FENCED', third.code))).status).toBe(401);
    // An IPv4-mapped IPv6 address is its IPv4 address (folded by the api's client address).
    expect((await from('::ffff:198.51.100.8', enrollBody(newAgentKey(), 'FENCED', third.code))).status).toBe(201);
  });

  it('applies to enrollment keys too, and an empty list lets any source in again', async () => {
    const rotated = await t.admin('post', '/api/v1/admin/sites/FENCED/enrollment-key').send({});
    const body = { site_code: 'FENCED', enrollment_key: rotated.body.key, public_key: newAgentKey().publicKey, hostname: 'cek-host', machine_uid: 'fenced-machine-1' };
    expect((await from('192.0.2.1', body)).status).toBe(401);
    expect((await t.admin('get', '/api/v1/admin/sites/FENCED/enrollment-key')).body.use_count).toBe(0);
    expect((await t.admin('patch', '/api/v1/admin/sites/FENCED').send({ allowed_cidrs: [] })).status).toBe(200);
    expect((await from('192.0.2.1', { ...body, public_key: newAgentKey().publicKey })).status).toBe(201);
    expect((await t.admin('get', '/api/v1/admin/sites/FENCED/enrollment-key')).body.use_count).toBe(1);
  });
});

describe('machine_uid per tenant', () => {
  it('makes the same machine two agents in two tenants, and keeps the site_conflict inside one tenant', async () => {
    expect((await t.admin('post', '/api/v1/admin/tenants').send({ tenant_code: 'other', name: 'Other' })).status).toBe(201);
    expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'OTHER-1', name: 'o', tenant_code: 'other' })).status).toBe(201);
    const here = await approveNew('FLEET-A', { hostname: 'twin', machine_uid: 'shared-machine-uid-1' });
    const there = await approveNew('OTHER-1', { hostname: 'twin', machine_uid: 'shared-machine-uid-1' });
    expect(there.id).not.toBe(here.id);
    const { code } = await createCode(t, 'FLEET-B');
    const conflict = await enroll(t, enrollBody(newAgentKey(), 'FLEET-B', code, { machine_uid: 'shared-machine-uid-1' }));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('site_conflict');
  });

  it('refuses a tenant code that is malformed or taken, and never removes default', async () => {
    for (const body of [{ tenant_code: 'UPPER', name: 'x' }, { tenant_code: 'a', name: 'x' }, { tenant_code: 'ok-code', name: '' }, { tenant_code: 'ok-code' }]) {
      expect((await t.admin('post', '/api/v1/admin/tenants').send(body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await t.admin('post', '/api/v1/admin/tenants').send({ tenant_code: 'other', name: 'again' })).status).toBe(409);
    expect((await t.admin('post', '/api/v1/admin/tenants').send({ tenant_code: 'default', name: 'again' })).status).toBe(409);
    expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'GHOST-1', name: 'g', tenant_code: 'ghost' })).status).toBe(404);
    await expect(t.api.deps.db.execute(sql`delete from tenants where code = 'default'`)).rejects.toThrow();
  });
});
