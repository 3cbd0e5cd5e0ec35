/**
 * Every admin and internal route passes the same authentication and role
 * checks. The matrix is generated from the route table (@airlock/schema):
 * every route with operator auth is tried with no token, malformed and
 * unknown tokens (401), every role its entry does not list (403 forbidden)
 * and every role it lists (never 401 or 403), so a new route cannot ship
 * without its auth tests. The model is Unkey's test_route_roles.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OPERATOR_ROLES, ROUTE_LIST, type OperatorRole, type RouteSpec } from '@airlock/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCode, createSite, enroll, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { newAgentKey } from '@airlock/testing';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'AUTH');
});
afterAll(async () => t.close());

const ID = '00000000-0000-4000-8000-000000000000';
/** A value for each path parameter the table uses; a new parameter name fails below until it has one. */
const SAMPLE_PARAMS: Record<string, string> = { id: ID, site_code: 'AUTH', name: 'nobody' };
const urlOf = (r: RouteSpec & { operationId: string }) =>
  r.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    const sample = SAMPLE_PARAMS[name];
    if (sample === undefined) throw new Error(`admin-auth.test.ts: no sample value for :${name} (${r.operationId}); add one to SAMPLE_PARAMS`);
    return sample;
  });
const OPERATOR_ROUTES = ROUTE_LIST.filter((r) => r.auth === 'operator').map((r) => ({ ...r, url: urlOf(r), roles: r.roles ?? [] }));

/** Operators with the machine roles made through the api (tunnel: issue 18; edge: issue 20), made once each. */
const machineTokens = new Map<string, string>();
const machineToken = async (role: 'tunnel' | 'edge'): Promise<string> => {
  const known = machineTokens.get(role);
  if (known !== undefined) return known;
  const r = await t.admin('post', '/api/v1/admin/operators').send({ name: `${role}-auth`, role });
  machineTokens.set(role, r.body.token as string);
  return r.body.token as string;
};
const tokenOf = async (role: OperatorRole): Promise<string> =>
  role === 'tunnel' || role === 'edge' ? machineToken(role) : { admin: t.adminToken, auditor: t.auditorToken, service: t.serviceToken }[role];

const call = (method: 'get' | 'post' | 'patch' | 'delete', url: string, token?: string) => {
  const req = t.http[method](url);
  if (token !== undefined) req.set('authorization', token);
  return method === 'post' || method === 'patch' ? req.send({}) : req;
};

describe('operator authentication on every admin and internal route', () => {
  it('covers every admin and internal route of the table, each naming the roles it allows', () => {
    const guarded = ROUTE_LIST.filter((r) => r.area === 'admin' || r.area === 'internal');
    expect(guarded.length).toBeGreaterThan(30);
    for (const r of guarded) {
      expect(r.auth, r.operationId).toBe('operator');
      expect(r.roles?.length, r.operationId).toBeGreaterThan(0);
      expect(r.roles, r.operationId).toContain('admin');
    }
  });

  for (const { method, url } of OPERATOR_ROUTES) {
    it(`${method.toUpperCase()} ${url} refuses a missing, malformed or unknown token with 401`, async () => {
      for (const header of [undefined, 'Bearer', `Basic ${t.adminToken}`, `Bearer aop_${'A'.repeat(43)}`, `Bearer ${t.adminToken} extra`, 'Bearer ../../etc']) {
        const r = await call(method, url, header);
        expect(r.status, String(header)).toBe(401);
        expect(r.body.error.code).toBe('unauthorized');
      }
    });
  }

  for (const { method, url, roles } of OPERATOR_ROUTES) {
    it(`${method.toUpperCase()} ${url}: ${roles.join(', ')} pass the role check, every other role gets 403`, async () => {
      for (const role of OPERATOR_ROLES) {
        const r = await call(method, url, `Bearer ${await tokenOf(role)}`);
        if (roles.includes(role)) {
          expect([401, 403], `${role} is allowed, got ${r.status} ${JSON.stringify(r.body)}`).not.toContain(r.status);
        } else {
          expect(r.status, `${role} is not allowed`).toBe(403);
          expect(r.body.error.code).toBe('forbidden');
        }
      }
    });
  }

  it('lets only admin and service verify agent keys', async () => {
    const auditor = await call('post', '/api/v1/internal/agent-keys/verify', `Bearer ${t.auditorToken}`);
    expect(auditor.status).toBe(403);
    const service = await t.http
      .post('/api/v1/internal/agent-keys/verify')
      .set('authorization', `Bearer ${t.serviceToken}`)
      .send({ agent_key: `cak_${'A'.repeat(43)}` });
    expect(service.status).toBe(401);
    expect(service.body.error.code).toBe('invalid_key');
  });

  it('never lists pairing codes in clear', async () => {
    const { code } = await createCode(t, 'AUTH');
    const list = await t.admin('get', '/api/v1/admin/pairing-codes?status=active');
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThan(0);
    expect(JSON.stringify(list.body)).not.toContain(code);
    expect(JSON.stringify(list.body)).not.toContain(code.replaceAll('-', ''));
  });
});

describe('disabling an operator', () => {
  it('stops every token of that operator at once, audited, and refuses disabling oneself', async () => {
    const created = await t.admin('post', '/api/v1/admin/operators').send({ name: 'temp-admin', role: 'admin' });
    expect(created.status).toBe(201);
    const token: string = created.body.token;
    expect((await t.http.get('/api/v1/admin/sites').set('authorization', `Bearer ${token}`)).status).toBe(200);

    const self = await t.http.post('/api/v1/admin/operators/temp-admin/disable').set('authorization', `Bearer ${token}`).send({});
    expect(self.status).toBe(409);

    const disabled = await t.admin('post', '/api/v1/admin/operators/temp-admin/disable').send({});
    expect(disabled.status).toBe(200);
    expect((await t.http.get('/api/v1/admin/sites').set('authorization', `Bearer ${token}`)).status).toBe(401);
    expect((await t.admin('post', '/api/v1/admin/operators/temp-admin/disable').send({})).status).toBe(409);
    expect((await t.admin('post', '/api/v1/admin/operators/no-such/disable').send({})).status).toBe(404);
    const list = await t.admin('get', '/api/v1/admin/operators');
    expect(list.body.items.find((o: { name: string }) => o.name === 'temp-admin').disabled_at).not.toBeNull();
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=operator.disabled');
    expect(audit.body.items[0]).toMatchObject({ actor: 'alice', details: expect.objectContaining({ operator: 'temp-admin' }) });
    expect(JSON.stringify(audit.body)).not.toContain(token);
  });
});

describe('client address', () => {
  // Issue 18 changed the default (deliberately): API_TRUSTED_PROXIES is empty, so a local process can no
  // longer pose as the edge; the edge's address is configured (pnpm start and the test stack do it).
  it('believes X-Forwarded-For only from a configured proxy: not from loopback by default', async () => {
    const { code } = await createCode(t, 'AUTH');
    const key = newAgentKey();
    const r = await t.http
      .post('/api/v1/enroll')
      .set('x-forwarded-for', '203.0.113.7')
      .send({ site_code: 'AUTH', pairing_code: code, public_key: key.publicKey, hostname: 'xff-host' });
    expect(r.status).toBe(201);
    const list = await t.admin('get', '/api/v1/admin/enrollments');
    const item = list.body.items.find((i: { id: string }) => i.id === r.body.enrollment_id);
    expect(item.source_ip).toBe('127.0.0.1');

    const edge = await startTestApi({ env: { API_TRUSTED_PROXIES: '127.0.0.1' } });
    try {
      await createSite(edge, 'EDGE');
      const pairing = await createCode(edge, 'EDGE');
      const forwarded = await edge.http
        .post('/api/v1/enroll')
        .set('x-forwarded-for', '203.0.113.7')
        .send({ site_code: 'EDGE', pairing_code: pairing.code, public_key: newAgentKey().publicKey, hostname: 'xff-host' });
      const listed = await edge.admin('get', '/api/v1/admin/enrollments');
      expect(listed.body.items.find((i: { id: string }) => i.id === forwarded.body.enrollment_id).source_ip).toBe('203.0.113.7');
    } finally {
      await edge.close();
    }
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const other = await startTestApi({ env: { API_TRUSTED_PROXIES: '10.0.0.0/8' } });
    try {
      await createSite(other, 'XFF');
      const { code } = await createCode(other, 'XFF');
      const key = newAgentKey();
      const r = await other.http
        .post('/api/v1/enroll')
        .set('x-forwarded-for', '203.0.113.7')
        .send({ site_code: 'XFF', pairing_code: code, public_key: key.publicKey, hostname: 'h' });
      const list = await other.admin('get', '/api/v1/admin/enrollments');
      expect(list.body.items.find((i: { id: string }) => i.id === r.body.enrollment_id).source_ip).toBe('127.0.0.1');
    } finally {
      await other.close();
    }
  });
});

describe('real OpenSSH keys and signatures', () => {
  it('accepts an SSHSIG made by ssh-keygen -Y sign and shows the ssh-keygen -lf fingerprint', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-sshsig-'));
    try {
      const keyPath = path.join(dir, 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vma-02', '-f', keyPath]);
      const publicKey = readFileSync(`${keyPath}.pub`, 'utf8').trim();
      const { code } = await createCode(t, 'AUTH');
      const e = await enroll(t, { site_code: 'AUTH', pairing_code: code, public_key: publicKey, hostname: 'vma-02' });
      expect(e.status).toBe(201);
      const msgPath = path.join(dir, 'msg');
      writeFileSync(msgPath, `airlock-enroll-v1\n${e.body.enrollment_id}\n${e.body.challenge}`);
      execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'airlock-enroll', '-f', keyPath, msgPath]);
      const sig = readFileSync(`${msgPath}.sig`, 'utf8');
      const v = await verify(t, e.body.enrollment_id, sig);
      expect(v.status).toBe(200);
      expect(v.body.status).toBe('awaiting_approval');
      expect((await status(t, v.body.poll_token)).status).toBe(202);

      const expected = execFileSync('ssh-keygen', ['-lf', `${keyPath}.pub`], { encoding: 'utf8' }).split(' ')[1];
      const list = await t.admin('get', '/api/v1/admin/enrollments');
      expect(list.body.items.find((i: { id: string }) => i.id === e.body.enrollment_id).fingerprint).toBe(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
