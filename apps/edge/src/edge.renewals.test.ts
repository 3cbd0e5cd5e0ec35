/**
 * Issue 18 #5: a NAT neighbour guessing enrollment keys must not stop the
 * agents behind the same address from renewing, nor a started enrollment
 * from finishing. The attack runs against a real edge (real sockets, real
 * Redis, default limits) with a recording upstream standing in for the api.
 */
import { describe, expect, it } from 'vitest';
import { listLockouts } from '@airlock/lockouts';
import { useEdgeFixture } from './testing/fixture.ts';
import { enrollWithKey, send } from '@airlock/testing';

const fx = useEdgeFixture();
const { edgeWith } = fx;

const FINGERPRINT = 'SHA256:uSt2aMwPs0mCQbDjE3hGlWd1W8fzJ4sYJqJ8z7hQk1E';
const challenge = (port: number) => send(port, 'POST', '/api/v1/agent/challenge', { body: { fingerprint: FINGERPRINT } });
const credentials = (port: number) =>
  send(port, 'POST', '/api/v1/agent/credentials', {
    body: { fingerprint: FINGERPRINT, challenge_id: '0b7c5a36-4f0e-4b8f-9c43-8d1c1b3c6f0e', signature: 'c2ln', csr: 'x' },
  });
const status = (port: number) => send(port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer ept_x' } });
const verify = (port: number) => send(port, 'POST', '/api/v1/enroll/verify', { body: { enrollment_id: 'e', signature: 's' } });

describe('issue 18 #5: the enroll block stays off renewals and status', () => {
  it('after 100 wrong-key enrolls from one address, agent challenge, credentials, status and verify from it are still forwarded; enroll stays blocked', async () => {
    // Default limits: the flood of the finding (100 wrong keys in seconds) is
    // inside every budget when spread over five sites (20 each: one lockout per site).
    const edge = await edgeWith();
    fx.upstream.respond(401);
    const flood: number[] = [];
    for (const site of ['S1', 'S2', 'S3', 'S4', 'S5']) {
      for (let i = 0; i < 20; i += 1) flood.push((await enrollWithKey(edge.port, site, `m${i}`)).status);
    }
    expect(flood).toEqual(Array(100).fill(401));

    // The address is now blocked from enrolling for a day, on any site.
    const blocked = await enrollWithKey(edge.port, 'S6', 'm');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(86_000);
    const kinds = (await listLockouts(fx.redis, { prefix: edge.prefix })).map((a) => a.kind).sort();
    expect(kinds).toEqual(['block', 'lockout', 'lockout', 'lockout', 'lockout', 'lockout']);

    // The agents behind that address still renew, and enrollments they started still finish.
    fx.upstream.respond(201);
    expect((await challenge(edge.port)).status).toBe(201);
    fx.upstream.respond(200);
    expect((await credentials(edge.port)).status).toBe(200);
    fx.upstream.respond(202);
    expect((await status(edge.port)).status).toBe(202);
    fx.upstream.respond(200);
    expect((await verify(edge.port)).status).toBe(200);
    expect(fx.upstream.requests.slice(100).map((r) => r.url)).toEqual([
      '/api/v1/agent/challenge',
      '/api/v1/agent/credentials',
      '/api/v1/enroll/status',
      '/api/v1/enroll/verify',
    ]);
    // And the api's 4xx to the enroll flood spent the enroll family's rejection budget, not the agents'.
    expect(await fx.redis.get(`${edge.prefix}rl:rejected:127.0.0.1`)).toBe('100');
    expect(await fx.redis.exists(`${edge.prefix}rl:agent_rejected:127.0.0.1`)).toBe(0);
  });

  it('keeps agent-route failures to the agent routes and the enroll block: status and verify are still forwarded', async () => {
    const edge = await edgeWith({ EDGE_BLOCK_FAILURES: '3', EDGE_BLOCK_SECONDS: '3600' });
    fx.upstream.respond(401);
    for (let i = 0; i < 3; i += 1) expect((await credentials(edge.port)).status).toBe(401);
    expect((await challenge(edge.port)).status).toBe(429);
    const kinds = (await listLockouts(fx.redis, { prefix: edge.prefix })).map((a) => a.kind).sort();
    expect(kinds).toEqual(['agent_block', 'block']);
    fx.upstream.respond(202);
    expect((await status(edge.port)).status).toBe(202);
    fx.upstream.respond(200);
    expect((await verify(edge.port)).status).toBe(200);
    expect(fx.upstream.requests).toHaveLength(5);
    expect(edge.logs.some((l) => l.msg === 'agent block' && l.fields['key'] === `${edge.prefix}agentblock:127.0.0.1`)).toBe(true);
  });

  it('gives the agent routes their own rejection budget: 4xx to enroll do not spend it, nor the reverse', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_REJECTED_PER_HOUR: '3', EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '100' });
    fx.upstream.respond(400);
    for (let i = 0; i < 3; i += 1) {
      expect((await send(edge.port, 'POST', '/api/v1/enroll', { body: { site_code: 'ACME', pairing_code: 'x', public_key: 'k', hostname: 'h' } })).status).toBe(400);
    }
    expect((await send(edge.port, 'POST', '/api/v1/enroll', { body: { site_code: 'ACME', pairing_code: 'x', public_key: 'k', hostname: 'h' } })).status).toBe(429);
    // The enroll family's budget is spent; the agent routes' is whole: three 4xx pass, the fourth is refused.
    const agent: number[] = [];
    for (let i = 0; i < 4; i += 1) agent.push((await credentials(edge.port)).status);
    expect(agent).toEqual([400, 400, 400, 429]);
    expect(fx.upstream.requests).toHaveLength(6);
  });
});
