/**
 * Tenant scope (issue 22), generated from the route table like the auth
 * matrix: every admin route, for every role it allows and for a global and a
 * scoped operator, sees and touches only what it may.
 *
 * Two tenants, each with a site, a pairing code, an enrollment waiting for a
 * decision, an approved agent, a webhook and an operator. An operator scoped to `acme`:
 * - on a `globalOnly` route is refused 403 forbidden;
 * - naming a `globex` object (path parameter or body field) gets the 404 a
 *   missing object gets, byte for byte once the name is taken out;
 * - never sees a `globex` object in any list;
 * and after every attempt, globex's rows are exactly as they were.
 */
import { ROUTE_LIST, type OperatorRole, type RouteSpec } from '@airlock/schema';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperator, enrollAndVerify, startTestApi, type TestApi } from '@airlock/api/testing';

let t: TestApi;
/** Per tenant: its site, a code, a waiting enrollment, an agent, an operator (a name). */
interface Fixture {
  tenant: string;
  site: string;
  codeId: string;
  enrollmentId: string;
  agentId: string;
  operator: string;
  webhookId: string;
}
const fx: Record<'acme' | 'globex', Fixture> = {} as never;
const tokens: Record<string, string> = {};
const MISSING = { tenant: 'nope-404', site: 'NOPE-404', id: '00000000-0000-4000-8000-000000000404', operator: 'nobody-404' };

const tokenFor = (role: OperatorRole, tenant: 'global' | 'acme') => {
  const token = tokens[`${tenant}:${role}`];
  if (!token) throw new Error(`no ${tenant} ${role} token`);
  return token;
};

const fixtureOf = async (tenant: 'acme' | 'globex', site: string): Promise<Fixture> => {
  expect((await t.admin('post', '/api/v1/admin/tenants').send({ tenant_code: tenant, name: tenant })).status).toBe(201);
  expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: site, name: site, tenant_code: tenant })).status).toBe(201);
  const code = await t.admin('post', '/api/v1/admin/pairing-codes').send({ site_code: site });
  const approved = await enrollAndVerify(t, site, { machine_uid: `machine-${tenant}`, labels: { company: tenant } });
  expect((await t.admin('post', `/api/v1/admin/enrollments/${approved.enrollmentId}/approve`).send({})).status).toBe(200);
  const agents = await t.admin('get', `/api/v1/admin/agents?site_code=${site}`);
  const waiting = await enrollAndVerify(t, site, { hostname: `waiting-${tenant}` });
  const operator = `${tenant}-ops`;
  await createOperator(t.api.deps.db, t.clock, { name: operator, role: 'auditor', tenant_code: tenant }, 'test', null);
  // Nothing listens there: the scope is what is tested, not a delivery.
  const webhook = await t.admin('post', '/api/v1/admin/webhooks').send({ url: `http://127.0.0.1:9/${tenant}`, events: ['*'], site_code: site });
  expect(webhook.status).toBe(201);
  return { tenant, site, codeId: code.body.id, enrollmentId: waiting.enrollmentId, agentId: agents.body.items[0].id, operator, webhookId: webhook.body.id };
};

/** A fingerprint of every row globex owns: sites, codes, enrollments, agents, its operators. */
const globexState = async () => {
  const rows = await t.api.deps.db.execute<{ h: string }>(sql`
    select md5(concat_ws('|',
      (select string_agg(s::text, ',' order by s.code) from sites s where s.tenant_code = 'globex'),
      (select string_agg(p::text, ',' order by p.id) from pairing_codes p where p.site_code = ${fx.globex.site}),
      (select string_agg(e::text, ',' order by e.id) from enrollments e where e.site_code = ${fx.globex.site}),
      (select string_agg(a::text, ',' order by a.id) from agents a where a.tenant_code = 'globex'),
      (select string_agg(o::text, ',' order by o.id) from operators o where o.tenant_code = 'globex'),
      (select string_agg(w::text, ',' order by w.id) from webhooks w where w.tenant_code = 'globex'))) as h`);
  return rows[0]?.h;
};

beforeAll(async () => {
  t = await startTestApi();
  fx.acme = await fixtureOf('acme', 'ACME-1');
  fx.globex = await fixtureOf('globex', 'GLOBEX-1');
  for (const role of ['admin', 'auditor', 'service', 'tunnel'] as const) {
    tokens[`acme:${role}`] = (await createOperator(t.api.deps.db, t.clock, { name: `acme-${role}`, role, tenant_code: 'acme' }, 'test', null)).token;
    tokens[`global:${role}`] = (await createOperator(t.api.deps.db, t.clock, { name: `global-${role}`, role }, 'test', null)).token;
  }
}, 120_000);
afterAll(async () => t?.close());

/** Which object a path parameter names, by the collection the path is under. */
const targetOf = (r: RouteSpec, f: Fixture | typeof MISSING) => (name: string) => {
  if (name === 'site_code') return f.site;
  if (name === 'name') return f.operator;
  if ('id' in f) return f.id;
  if (r.path.includes('/agents/')) return f.agentId;
  if (r.path.includes('/enrollments/')) return f.enrollmentId;
  if (r.path.includes('/pairing-codes/')) return f.codeId;
  if (r.path.includes('/webhooks/')) return f.webhookId;
  throw new Error(`tenant-scope.test.ts: no target for :${name} in ${r.path}`);
};
const urlOf = (r: RouteSpec, f: Fixture | typeof MISSING) => r.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => targetOf(r, f)(name));

/** A valid body for every admin write route (a new route fails here until it has one), naming `f`'s objects. */
const BODIES: Record<string, (f: Fixture | typeof MISSING) => object> = {
  createSite: (f) => ({ site_code: 'SCOPE-NEW', name: 'n', tenant_code: f.tenant }),
  updateSite: () => ({ name: 'renamed', allowed_cidrs: ['10.0.0.0/8'] }),
  rotateEnrollmentKey: () => ({}),
  createPairingCode: (f) => ({ site_code: f.site }),
  revokePairingCode: () => ({}),
  approveEnrollment: () => ({}),
  rejectEnrollment: () => ({ reason: 'scope test' }),
  updateAgent: () => ({ labels: { company: 'stolen' } }),
  revokeAgent: () => ({}),
  createOperator: (f) => ({ name: 'scope-new', role: 'auditor', tenant_code: f.tenant }),
  disableOperator: () => ({}),
  clearOperatorSignInFailures: () => ({}),
  setOperatorPassword: () => ({ password: 'a long enough password' }),
  createTenant: () => ({ tenant_code: 'scope-new', name: 'n' }),
  pruneAudit: () => ({ before: '2000-01-01T00:00:00Z' }),
  clearLockout: () => ({ key: 'nope' }),
  retireTunnelHostKey: () => ({ fingerprint: `SHA256:${'A'.repeat(43)}` }),
  createWebhook: (f) => ({ url: 'http://127.0.0.1:9/scope-new', events: ['*'], site_code: f.site }),
  testWebhook: () => ({}),
  rotateWebhookSecret: () => ({}),
};
/** Writes whose body, not the path, names the other tenant's object. */
const BODY_TARGETED = new Set(['createSite', 'createPairingCode', 'createOperator', 'createWebhook']);

const send = (r: RouteSpec & { operationId: string }, url: string, token: string, f: Fixture | typeof MISSING) => {
  const req = t.http[r.method](url).set('authorization', `Bearer ${token}`);
  if (r.method === 'get' || r.method === 'delete') return req;
  const body = BODIES[r.operationId];
  if (!body) throw new Error(`tenant-scope.test.ts: no sample body for ${r.operationId}; add one to BODIES`);
  return req.send(body(f));
};

/** A 404 body with the asked name taken out, to compare another tenant's object with a missing one. */
const anonymised = (body: unknown, names: string[]) => names.reduce((s, n) => s.replaceAll(n, '<name>'), JSON.stringify(body));

const ADMIN_ROUTES = ROUTE_LIST.filter((r) => r.area === 'admin');

describe('tenant scope on every admin route', () => {
  it('covers the whole admin table', () => {
    expect(ADMIN_ROUTES.length).toBeGreaterThan(25);
    for (const r of ADMIN_ROUTES.filter((x) => x.method !== 'get' && x.method !== 'delete')) expect(BODIES[r.operationId], r.operationId).toBeDefined();
  });

  for (const r of ADMIN_ROUTES.filter((x) => x.globalOnly)) {
    it(`${r.method.toUpperCase()} ${r.path} (global only): every scoped role is refused 403, global roles pass the scope check`, async () => {
      for (const role of r.roles ?? []) {
        const scoped = await send(r, urlOf(r, fx.globex), tokenFor(role, 'acme'), fx.globex);
        expect(scoped.status, `acme ${role}`).toBe(403);
        expect(scoped.body.error.code).toBe('forbidden');
        const global = await send(r, urlOf(r, MISSING), tokenFor(role, 'global'), MISSING);
        expect(global.status, `global ${role}: ${JSON.stringify(global.body)}`).not.toBe(403);
      }
    });
  }

  const targeted = ADMIN_ROUTES.filter((r) => !r.globalOnly && (r.path.includes(':') || BODY_TARGETED.has(r.operationId)));
  for (const r of targeted) {
    it(`${r.method.toUpperCase()} ${r.path}: a scoped operator naming another tenant's object gets the missing object's 404, and changes nothing`, async () => {
      const before = await globexState();
      for (const role of r.roles ?? []) {
        const token = tokenFor(role, 'acme');
        const other = await send(r, urlOf(r, fx.globex), token, fx.globex);
        const missing = await send(r, urlOf(r, MISSING), token, MISSING);
        expect(other.status, `acme ${role} on globex: ${JSON.stringify(other.body)}`).toBe(404);
        expect(other.body.error.code).toBe('not_found');
        expect(missing.status).toBe(404);
        const names = [fx.globex.site, fx.globex.operator, fx.globex.tenant, MISSING.site, MISSING.operator, MISSING.tenant];
        expect(anonymised({ ...other.body, error: { ...other.body.error, request_id: null } }, names)).toBe(
          anonymised({ ...missing.body, error: { ...missing.body.error, request_id: null } }, names),
        );
      }
      expect(await globexState()).toBe(before);
    });
  }

  const lists = ADMIN_ROUTES.filter((r) => r.method === 'get' && !r.globalOnly && !r.path.includes(':'));
  for (const r of lists) {
    it(`GET ${r.path}: a scoped operator's list never shows another tenant's object; a global one sees both`, async () => {
      for (const role of r.roles ?? []) {
        const scoped = await t.http.get(r.path).set('authorization', `Bearer ${tokenFor(role, 'acme')}`);
        expect(scoped.status).toBe(200);
        const text = JSON.stringify(scoped.body);
        for (const secret of [fx.globex.site, fx.globex.agentId, fx.globex.enrollmentId, fx.globex.codeId, fx.globex.operator, '"globex"']) {
          expect(text, `acme ${role} sees ${secret} in ${r.path}`).not.toContain(secret);
        }
      }
      const global = JSON.stringify((await t.http.get(r.path).set('authorization', `Bearer ${tokenFor('auditor', 'global')}`)).body);
      expect(global).toContain(r.path.endsWith('/tenants') ? '"globex"' : r.path.endsWith('/operators') ? fx.globex.operator : fx.globex.site);
    });
  }

  it("lets a scoped admin act on its own tenant's objects, in its own tenant only", async () => {
    const admin = (m: 'get' | 'post' | 'patch', url: string) => t.http[m](url).set('authorization', `Bearer ${tokenFor('admin', 'acme')}`);
    const site = await admin('post', '/api/v1/admin/sites').send({ site_code: 'ACME-2', name: 'second' });
    expect(site.status).toBe(201);
    expect(site.body.tenant_code).toBe('acme');
    const labels = await admin('patch', `/api/v1/admin/agents/${fx.acme.agentId}`).send({ labels: { company: 'acme', tags: 'dmz' } });
    expect(labels.status).toBe(200);
    expect(labels.body.labels).toEqual({ company: 'acme', tags: 'dmz' });
    const op = await admin('post', '/api/v1/admin/operators').send({ name: 'acme-made', role: 'auditor' });
    expect(op.status).toBe(201);
    expect(op.body.tenant_code).toBe('acme');
    const tenants = await admin('get', '/api/v1/admin/tenants');
    expect(tenants.body.items.map((x: { tenant_code: string }) => x.tenant_code)).toEqual(['acme']);
    const agents = await admin('get', '/api/v1/admin/agents?tenant_code=globex');
    expect(agents.body.items).toEqual([]);
  });
});
