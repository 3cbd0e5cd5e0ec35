/** Every admin and internal route passes the same authentication and role checks. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
const ADMIN_ROUTES: Array<['get' | 'post' | 'delete', string]> = [
  ['post', '/api/v1/admin/sites'],
  ['get', '/api/v1/admin/sites'],
  ['post', '/api/v1/admin/sites/AUTH/enrollment-key'],
  ['get', '/api/v1/admin/sites/AUTH/enrollment-key'],
  ['post', '/api/v1/admin/pairing-codes'],
  ['get', '/api/v1/admin/pairing-codes?status=active'],
  ['delete', `/api/v1/admin/pairing-codes/${ID}`],
  ['get', '/api/v1/admin/enrollments?status=awaiting_approval'],
  ['post', `/api/v1/admin/enrollments/${ID}/approve`],
  ['post', `/api/v1/admin/enrollments/${ID}/reject`],
  ['get', '/api/v1/admin/agents?status=active'],
  ['post', `/api/v1/admin/agents/${ID}/revoke`],
  ['get', '/api/v1/admin/audit'],
  ['get', '/api/v1/admin/audit/refusals'],
  ['post', '/api/v1/admin/audit/prune'],
  ['post', '/api/v1/admin/operators'],
  ['get', '/api/v1/admin/operators'],
  ['post', '/api/v1/admin/operators/nobody/disable'],
  ['post', '/api/v1/admin/operators/nobody/password'],
  ['post', '/api/v1/admin/operators/nobody/clear-sign-in-failures'],
  ['get', '/api/v1/admin/lockouts'],
  ['post', '/api/v1/admin/lockouts/clear'],
  // issue 18: the tunnel endpoint's host keys
  ['get', '/api/v1/admin/tunnel/host-keys'],
  ['post', '/api/v1/admin/tunnel/host-keys/retire'],
];
const INTERNAL_ROUTES: Array<['get' | 'post', string]> = [
  ['post', '/api/v1/internal/agent-keys/verify'],
  // v1.1 credentials
  ['get', '/api/v1/internal/ca'],
  ['post', '/api/v1/internal/certificates/verify'],
];

/** An operator with the tunnel endpoint's role (issue 18), made once. */
let tunnelTokenValue: string | null = null;
const tunnelToken = async (): Promise<string> => {
  if (tunnelTokenValue === null) {
    const r = await t.admin('post', '/api/v1/admin/operators').send({ name: 'tunnel-auth', role: 'tunnel' });
    tunnelTokenValue = r.body.token as string;
  }
  return tunnelTokenValue;
};

const call = (method: 'get' | 'post' | 'delete', url: string, token?: string) => {
  const req = t.http[method](url);
  if (token !== undefined) req.set('authorization', token);
  return method === 'post' ? req.send({}) : req;
};

describe('operator authentication on every admin and internal route', () => {
  for (const [method, url] of [...ADMIN_ROUTES, ...INTERNAL_ROUTES]) {
    it(`${method.toUpperCase()} ${url} refuses a missing, malformed or unknown token with 401`, async () => {
      for (const header of [undefined, 'Bearer', `Basic ${t.adminToken}`, `Bearer aop_${'A'.repeat(43)}`, `Bearer ${t.adminToken} extra`, 'Bearer ../../etc']) {
        const r = await call(method, url, header);
        expect(r.status, String(header)).toBe(401);
        expect(r.body.error.code).toBe('unauthorized');
      }
    });
  }

  for (const [method, url] of ADMIN_ROUTES) {
    const auditorMay = method === 'get';
    it(`${method.toUpperCase()} ${url}: auditor ${auditorMay ? 'may read' : 'gets 403'}, service and tunnel get 403`, async () => {
      const asAuditor = await call(method, url, `Bearer ${t.auditorToken}`);
      if (auditorMay) expect(asAuditor.status).not.toBe(403);
      else expect(asAuditor.status).toBe(403);
      for (const token of [t.serviceToken, await tunnelToken()]) {
        const asMachine = await call(method, url, `Bearer ${token}`);
        expect(asMachine.status).toBe(403);
        expect(asMachine.body.error.code).toBe('forbidden');
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
