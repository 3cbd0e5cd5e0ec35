/**
 * Issue 20: the edge reports the lockouts and blocks it imposes, with Redis
 * and with in-process counters alike, and each becomes a security.lockout
 * webhook (real edge and api processes, real Postgres, real Redis).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { newAgentKey, request, signatureMatches, startReceiver, waitFor, type Receiver } from '@airlock/testing';
import { startStack, type Stack } from './helpers/stack.ts';

const stacks: Stack[] = [];
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop();
  for (const r of receivers) await r.close();
});

const lockoutThroughEdge = async (edgeRedis: boolean) => {
  const stack = await startStack({ edgeRedis, edgeEnv: { EDGE_LOCKOUT_FAILURES: '3' }, apiEnv: { AIRLOCK_WEBHOOK_POLL_MS: '100' } });
  stacks.push(stack);
  const rx = await startReceiver();
  receivers.push(rx);
  expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'BRUTE', name: 'Brute' })).status).toBe(201);
  const hook = await stack.admin('POST', '/api/v1/admin/webhooks', { url: rx.url, events: ['security.lockout'] });
  expect(hook.status).toBe(201);
  const guess = (code: string) =>
    request(`${stack.edgeUrl}/api/v1/enroll`, { body: { site_code: 'BRUTE', pairing_code: code, public_key: newAgentKey().publicKey, hostname: 'guesser' } });
  for (let i = 0; i < 3; i++) expect((await guess(`AAAA-AAAA-AAA${i}`)).status).toBe(401);
  expect((await guess('AAAA-AAAA-AAA9')).status).toBe(429);
  const got = await waitFor(() => rx.received.find((r) => r.json.type === 'security.lockout'), 'the security.lockout webhook', 30_000);
  expect(signatureMatches(got, hook.body.secret)).toBe(true);
  expect(got.json.data).toMatchObject({ site_code: 'BRUTE', source_ip: '127.0.0.1', kind: 'lockout', reported_by: 'stack-edge' });
  expect(Date.parse(String(got.json.data?.until))).toBeGreaterThan(Date.now());
  const audit = await stack.admin('GET', '/api/v1/admin/audit?event_type=security.lockout');
  expect(audit.body.items).toHaveLength(1);
  expect(audit.body.items[0].details).toMatchObject({ counters: edgeRedis ? 'redis' : 'memory', failures: 3 });
  return stack;
};

describe('security.lockout from the edge', () => {
  it('with Redis counters: the lockout reaches the receiver, signed', { timeout: 120_000 }, async () => {
    await lockoutThroughEdge(true);
  });

  it('with in-process counters (no Redis): the same', { timeout: 120_000 }, async () => {
    await lockoutThroughEdge(false);
  });

  it('only an edge (or admin) token may report; a service token is refused and a report id records once', { timeout: 120_000 }, async () => {
    const stack = stacks[0];
    if (!stack) throw new Error('the first test did not start a stack');
    const body = {
      report_id: '6f1d1c7e-8a51-4c4e-9f57-1b0a6c1f0a01',
      kind: 'block',
      source_ip: '198.51.100.9',
      until: new Date(Date.now() + 60_000).toISOString(),
      failures: 100,
      counters: 'redis',
    };
    const post = (token: string) =>
      fetch(`${stack.apiUrl}/api/v1/internal/security/lockouts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post(stack.serviceToken)).status).toBe(403);
    const first = await post(stack.adminToken);
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ recorded: true });
    expect(await (await post(stack.adminToken)).json()).toEqual({ recorded: false });
  });
});
