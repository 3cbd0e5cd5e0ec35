/** Races on the agent routes, on real Postgres: one winner per challenge, one live agent key per agent. */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, startTestApi, type TestApi } from '@airlock/api/testing';
import { challenge, enrollWithCsr, internalAgentKeyVerify, renew } from './credential-flows.ts';

let t: TestApi;
let sql: postgres.Sql;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'RACE');
  if (!t.db) throw new Error('needs a real database');
  sql = postgres(t.db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql.end();
  await t.close();
});

describe('concurrent renewals', () => {
  it('leaves exactly one live cak_ after 20 concurrent renewals with rotate_agent_key, and it is one of those handed out', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'RACE');
    const csr = await agent.csr();
    const results = await Promise.all(Array.from({ length: 20 }, () => renew(t, agent, { rotate_agent_key: true, csr })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const keys = results.map((r) => r.body.credentials.agent_key as string);
    expect(new Set(keys).size).toBe(20);

    const live = await sql`select count(*)::int as n from agent_keys where agent_id = ${answer.agent_id} and revoked_at is null`;
    expect(live[0]?.n).toBe(1);
    const verdicts = await Promise.all([answer.credentials.agent_key, ...keys].map((k) => internalAgentKeyVerify(t, k)));
    expect(verdicts.filter((v) => v.status === 200)).toHaveLength(1);
    expect(verdicts.filter((v) => v.status === 401)).toHaveLength(20);

    const certs = await sql`select count(*)::int as n from issued_certificates where agent_id = ${answer.agent_id}`;
    expect(certs[0]?.n).toBe(21);
    const rotated = await t.admin('get', `/api/v1/admin/audit?agent_id=${answer.agent_id}&event_type=agent.key_rotated&limit=100`);
    expect(rotated.body.items).toHaveLength(20);
  });

  it('lets exactly one of 20 concurrent answers to one challenge win', async () => {
    const { agent } = await enrollWithCsr(t, 'RACE', { csr: null });
    const c = await challenge(t, agent.fingerprint);
    const body = { fingerprint: agent.fingerprint, challenge_id: c.body.challenge_id, signature: agent.signAgent(c.body.challenge_id, c.body.challenge), rotate_agent_key: true };
    const results = await Promise.all(Array.from({ length: 20 }, () => t.http.post('/api/v1/agent/credentials').send(body)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401 && r.body.error.code === 'agent_denied')).toHaveLength(19);
  });

  it('never leaves a key live when a revocation races renewals', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'RACE', { csr: null });
    const [revoke, ...renewals] = await Promise.all([
      t.admin('post', `/api/v1/admin/agents/${answer.agent_id}/revoke`).send({}),
      ...Array.from({ length: 5 }, () => renew(t, agent, { rotate_agent_key: true })),
    ]);
    expect(revoke?.status).toBe(200);
    for (const r of renewals) expect([200, 401]).toContain(r.status);
    const live = await sql`select count(*)::int as n from agent_keys where agent_id = ${answer.agent_id} and revoked_at is null`;
    expect(live[0]?.n).toBe(0);
  });
});
