/**
 * v1.1 credentials on the embedded database (PGlite): certificate at
 * enrollment, renewal with rotation, one challenge winner; and issue 18's
 * statements (site-key use alerts, the revoked-key hold, certificate
 * revocation) on PGlite too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enroll, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { challenge, enrollWithCsr, internalAgentKeyVerify, internalCertVerify, newTlsAgent, renew } from './credential-flows.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ embedded: true, env: { AIRLOCK_SITE_KEY_BURST_USES: '2' } });
  await createSite(t, 'EMBED');
  await createSite(t, 'EMBED-AUTO', 'auto');
}, 120_000);
afterAll(async () => t.close());

describe('credentials on embedded Postgres', () => {
  it('issues, renews with rotation, and verifies', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'EMBED');
    expect((await internalCertVerify(t, answer.credentials.tls.certificate)).status).toBe(200);
    const r = await renew(t, agent, { rotate_agent_key: true, csr: await agent.csr() });
    expect(r.status).toBe(200);
    expect((await internalAgentKeyVerify(t, answer.credentials.agent_key)).status).toBe(401);
    expect((await internalAgentKeyVerify(t, r.body.credentials.agent_key)).status).toBe(200);
  });

  it('lets one of 5 concurrent answers to one challenge win', async () => {
    const { agent } = await enrollWithCsr(t, 'EMBED', { csr: null });
    const c = await challenge(t, agent.fingerprint);
    const body = { fingerprint: agent.fingerprint, challenge_id: c.body.challenge_id, signature: agent.signAgent(c.body.challenge_id, c.body.challenge) };
    const results = await Promise.all(Array.from({ length: 5 }, () => t.http.post('/api/v1/agent/credentials').send(body)));
    expect(results.map((x) => x.status).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it('writes the site-key alerts, holds a revoked key and revokes its certificate (issue 18)', async () => {
    const key = (await t.admin('post', '/api/v1/admin/sites/EMBED-AUTO/enrollment-key').send({ max_uses: 5 })).body.key as string;
    const agent = newTlsAgent();
    const first = async (machineUid: string) => {
      const e = await enroll(t, { site_code: 'EMBED-AUTO', enrollment_key: key, public_key: agent.publicKey, hostname: 'vma-01', machine_uid: machineUid, csr: await agent.csr() });
      expect(e.status).toBe(201);
      return verify(t, e.body.enrollment_id, agent.signEnrollment(e.body.enrollment_id, e.body.challenge));
    };
    const v = await first('embed-machine-0001');
    expect(v.body.status).toBe('approved');
    const creds = await status(t, v.body.poll_token);
    await t.admin('post', `/api/v1/admin/agents/${creds.body.agent_id}/revoke`).send({});
    expect((await internalCertVerify(t, creds.body.credentials.tls.certificate)).status).toBe(401);
    expect((await first('embed-machine-0002')).body.status).toBe('awaiting_approval');
    for (let i = 0; i < 2; i++) {
      await enroll(t, { site_code: 'EMBED-AUTO', enrollment_key: key, public_key: newTlsAgent().publicKey, hostname: 'h', machine_uid: `embed-machine-1${i}00` });
    }
    const audit = async (type: string) => (await t.admin('get', `/api/v1/admin/audit?event_type=${type}`)).body.items.length as number;
    expect(await audit('site.enrollment_key_uses_high')).toBe(1);
    expect(await audit('site.enrollment_key_use_burst')).toBe(1);
  });
});
