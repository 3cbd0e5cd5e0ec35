/** v1.1 credentials on the embedded database (PGlite): certificate at enrollment, renewal with rotation, one challenge winner. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/helpers/api.ts';
import { challenge, enrollWithCsr, internalAgentKeyVerify, internalCertVerify, renew } from './credential-flows.ts';
import { createSite } from './flows.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ embedded: true });
  await createSite(t, 'EMBED');
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
});
