/**
 * A site push through the real edge with default limits: 60 distinct
 * machines enrolling with one site key from one IP within a minute all
 * succeed; the 61st is throttled with Retry-After and never reaches the api.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, request } from '@airlock/testing';
import { startStack, type Stack } from './helpers/stack.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'PUSH', name: 'Push', policy: 'auto' })).status).toBe(201);
}, 120_000);
afterAll(async () => stack?.stop());

const post = (path: string, body: unknown) => request(`${stack.edgeUrl}${path}`, { body });

describe('site push through the edge', () => {
  it('lets 60 machines enroll with one key from one IP in a minute and throttles the 61st', async () => {
    const rotated = await stack.admin('POST', '/api/v1/admin/sites/PUSH/enrollment-key', {});
    expect(rotated.status).toBe(201);
    const key: string = rotated.body.key;

    const statuses: number[] = [];
    // Ten at a time: the edge caps concurrent connections per IP at 10.
    for (let batch = 0; batch < 6; batch++) {
      const results = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const agent = newAgentKey();
          const uid = `push-machine-${batch}-${i}`;
          const e = await post('/api/v1/enroll', { site_code: 'PUSH', enrollment_key: key, public_key: agent.publicKey, hostname: `node-${batch}-${i}`, machine_uid: uid });
          if (e.status !== 201) return e.status;
          const body = e.body as { enrollment_id: string; challenge: string };
          const v = await post('/api/v1/enroll/verify', { enrollment_id: body.enrollment_id, signature: agent.sign(body.enrollment_id, body.challenge) });
          if (v.status !== 200) return v.status;
          const s = await request(`${stack.edgeUrl}/api/v1/enroll/status`, { headers: { authorization: `Bearer ${v.body.poll_token}` } });
          return s.status;
        }),
      );
      statuses.push(...results);
    }
    expect(statuses).toEqual(Array(60).fill(200));

    const agent = newAgentKey();
    const sixtyFirst = await post('/api/v1/enroll', { site_code: 'PUSH', enrollment_key: key, public_key: agent.publicKey, hostname: 'node-61', machine_uid: 'push-machine-61' });
    expect(sixtyFirst.status).toBe(429);
    expect(sixtyFirst.body.error.code).toBe('rate_limited');
    expect(Number(sixtyFirst.headers['retry-after'])).toBeGreaterThan(0);

    const d = await stack.admin('GET', '/api/v1/admin/sites/PUSH/enrollment-key');
    expect(d.body.use_count).toBe(60);
    const agents = await stack.admin('GET', '/api/v1/admin/agents?status=active');
    expect(agents.body.items.filter((a: { site_code: string }) => a.site_code === 'PUSH')).toHaveLength(60);
  });
});
