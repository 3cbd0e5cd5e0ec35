import * as http from 'node:http';
import { describe, expect, it } from 'vitest';
import { clearLockout, listLockouts } from '@airlock/lockouts';
import { useEdgeFixture } from './testing/fixture.ts';
import { startTestEdge } from './testing/harness.ts';
import { enrollWithCode, enrollWithKey, send } from '@airlock/testing';

const fx = useEdgeFixture();
const { edgeWith } = fx;

describe('consecutive-failure lockout per (site, IP)', () => {
  it('locks out after the configured failures, with Retry-After, without reaching the api', async () => {
    const edge = await edgeWith({ EDGE_LOCKOUT_FAILURES: '3', EDGE_LOCKOUT_SECONDS: '900' });
    fx.upstream.respond(401);
    for (let i = 0; i < 3; i += 1) expect((await enrollWithKey(edge.port, 'acme', `m${i}`)).status).toBe(401);
    const locked = await enrollWithKey(edge.port, 'ACME', 'm3');
    expect(locked.status).toBe(429);
    expect(JSON.parse(locked.body)).toMatchObject({ error: { code: 'rate_limited' } });
    const retry = Number(locked.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(900);
    expect(fx.upstream.requests).toHaveLength(3);
    expect(await fx.redis.exists(`${edge.prefix}lockout:ACME:127.0.0.1`)).toBe(1);
    expect(edge.logs.some((l) => l.msg === 'lockout' && l.fields['key'] === `${edge.prefix}lockout:ACME:127.0.0.1`)).toBe(true);
  });

  it('keeps other sites from the same IP open', async () => {
    const edge = await edgeWith({ EDGE_LOCKOUT_FAILURES: '2' });
    fx.upstream.respond(401);
    await enrollWithKey(edge.port, 'ACME', 'a');
    await enrollWithKey(edge.port, 'ACME', 'b');
    expect((await enrollWithKey(edge.port, 'ACME', 'c')).status).toBe(429);
    expect((await enrollWithKey(edge.port, 'OTHER', 'c')).status).toBe(401);
  });

  it('resets the count after a success', async () => {
    const edge = await edgeWith({ EDGE_LOCKOUT_FAILURES: '3' });
    fx.upstream.respond(401);
    await enrollWithKey(edge.port, 'ACME', 'a');
    await enrollWithKey(edge.port, 'ACME', 'b');
    fx.upstream.respond(201);
    expect((await enrollWithKey(edge.port, 'ACME', 'c')).status).toBe(201);
    fx.upstream.respond(401);
    expect((await enrollWithKey(edge.port, 'ACME', 'd')).status).toBe(401);
    expect((await enrollWithKey(edge.port, 'ACME', 'e')).status).toBe(401);
    // Two failures since the success: still open.
    expect((await enrollWithKey(edge.port, 'ACME', 'f')).status).toBe(401);
    expect((await enrollWithKey(edge.port, 'ACME', 'g')).status).toBe(429);
  });

  it('counts pairing-code failures under the same (site, IP) key', async () => {
    const edge = await edgeWith({ EDGE_LOCKOUT_FAILURES: '2' });
    fx.upstream.respond(401);
    await enrollWithCode(edge.port, 'acme');
    await enrollWithCode(edge.port, 'acme');
    expect((await enrollWithCode(edge.port, 'acme')).status).toBe(429);
    expect(fx.upstream.requests).toHaveLength(2);
  });

  it('lists the lockout for operators, and lets the key through again once cleared', async () => {
    const edge = await edgeWith({ EDGE_LOCKOUT_FAILURES: '2', EDGE_LOCKOUT_SECONDS: '600' });
    fx.upstream.respond(401);
    await enrollWithKey(edge.port, 'ACME', 'a');
    await enrollWithKey(edge.port, 'ACME', 'b');
    expect((await enrollWithKey(edge.port, 'ACME', 'c')).status).toBe(429);

    const active = await listLockouts(fx.redis, { prefix: edge.prefix });
    expect(active).toEqual([
      {
        key: `${edge.prefix}lockout:ACME:127.0.0.1`,
        kind: 'lockout',
        site_code: 'ACME',
        ip: '127.0.0.1',
        retry_after_seconds: expect.any(Number) as number,
      },
    ]);
    expect(active[0]?.retry_after_seconds).toBeGreaterThan(0);
    expect(active[0]?.retry_after_seconds).toBeLessThanOrEqual(600);

    expect(await clearLockout(fx.redis, `${edge.prefix}lockout:ACME:127.0.0.1`, { prefix: edge.prefix })).toBe(true);
    expect(await listLockouts(fx.redis, { prefix: edge.prefix })).toEqual([]);
    fx.upstream.respond(201);
    expect((await enrollWithKey(edge.port, 'ACME', 'd')).status).toBe(201);
    expect(await clearLockout(fx.redis, `${edge.prefix}lockout:ACME:127.0.0.1`, { prefix: edge.prefix })).toBe(false);
  });
});

describe('cross-site failure block per IP', () => {
  // Changed by issue 18 #5: the block guarded every public route, so a NAT
  // neighbour guessing keys stopped renewals and status polls for a day. It
  // now guards enroll only; verify, status and the agent routes keep their
  // own budgets and blocks (edge.renewals.test.ts).
  it('blocks an IP failing across many sites from enrolling, on any site; verify and status still pass', async () => {
    const edge = await edgeWith({ EDGE_LOCKOUT_FAILURES: '100', EDGE_BLOCK_FAILURES: '4', EDGE_BLOCK_SECONDS: '3600' });
    fx.upstream.respond(401);
    for (const site of ['S1', 'S2', 'S3', 'S4']) expect((await enrollWithKey(edge.port, site, 'm')).status).toBe(401);
    const fresh = await enrollWithKey(edge.port, 'S5', 'm');
    expect(fresh.status).toBe(429);
    expect(Number(fresh.headers['retry-after'])).toBeGreaterThan(0);
    fx.upstream.respond(200);
    expect((await send(edge.port, 'POST', '/api/v1/enroll/verify', { body: { enrollment_id: 'x', signature: 'y' } })).status).toBe(200);
    fx.upstream.respond(202);
    expect((await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } })).status).toBe(202);
    expect(fx.upstream.requests).toHaveLength(6);
    fx.upstream.respond(401);
    const active = await listLockouts(fx.redis, { prefix: edge.prefix });
    expect(active.map((a) => [a.kind, a.ip, a.site_code])).toEqual([['block', '127.0.0.1', null]]);
    expect(edge.logs.some((l) => l.msg === 'block' && l.fields['key'] === `${edge.prefix}block:127.0.0.1`)).toBe(true);

    expect(await clearLockout(fx.redis, `block:127.0.0.1`, { prefix: edge.prefix })).toBe(true);
    fx.upstream.respond(202);
    expect((await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } })).status).toBe(202);
    fx.upstream.respond(201);
    expect((await enrollWithKey(edge.port, 'S5', 'm')).status).toBe(201);
  });

  // Changed by issue #8.3: verify and status 401s no longer feed the 24 h
  // block; they have their own budget and a short block (edge.security.test.ts).
  it('counts verify and status 401s toward their own short block, not the enrollment block', async () => {
    const edge = await edgeWith({ EDGE_BLOCK_FAILURES: '3', EDGE_POLL_BLOCK_FAILURES: '2' });
    fx.upstream.respond(401);
    await send(edge.port, 'POST', '/api/v1/enroll/verify', { body: { enrollment_id: 'x', signature: 'y' } });
    await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
    expect((await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } })).status).toBe(429);
    await enrollWithKey(edge.port, 'ACME', 'm');
    expect((await enrollWithKey(edge.port, 'OTHER', 'm')).status).toBe(401);
  });
});

describe('rate rules', () => {
  it('lets a 60-machine site push from one IP through over keep-alive, and refuses the 61st', async () => {
    const edge = await edgeWith();
    fx.upstream.respond(201);
    // Ten sockets, as a NAT full of agents with keep-alive would use at most per the cap.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => enrollWithKey(edge.port, 'ACME-PHX', `vma-${i}`, agent)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(60).fill(201));
    const sixtyFirst = await enrollWithKey(edge.port, 'ACME-PHX', 'vma-60', agent);
    expect(sixtyFirst.status).toBe(429);
    expect(Number(sixtyFirst.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(sixtyFirst.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(fx.upstream.requests).toHaveLength(60);
    // The push's agents still verify and poll.
    fx.upstream.respond(200);
    const verifies = await Promise.all(
      Array.from({ length: 60 }, () =>
        send(edge.port, 'POST', '/api/v1/enroll/verify', { body: { enrollment_id: 'x', signature: 'y' }, agent }),
      ),
    );
    expect(verifies.every((r) => r.status === 200)).toBe(true);
    agent.destroy();
  });

  it('limits pairing-code enrolls per IP regardless of site', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '3' });
    fx.upstream.respond(201);
    for (const site of ['A1', 'A2', 'A3']) expect((await enrollWithCode(edge.port, site)).status).toBe(201);
    const limited = await enrollWithCode(edge.port, 'A4');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(60);
    // The site-key rule is separate.
    expect((await enrollWithKey(edge.port, 'A4', 'm')).status).toBe(201);
  });

  it('puts enrolls without a usable site_code in one fixed bucket', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_ENROLL_KEY_PER_MIN: '2' });
    fx.upstream.respond(400);
    await send(edge.port, 'POST', '/api/v1/enroll', { body: { enrollment_key: 'cek_x' } });
    await send(edge.port, 'POST', '/api/v1/enroll', { body: { site_code: '../../x', enrollment_key: 'cek_x' } });
    const third = await send(edge.port, 'POST', '/api/v1/enroll', { body: { site_code: 42, enrollment_key: 'cek_x' } });
    expect(third.status).toBe(429);
    expect(await fx.redis.exists(`${edge.prefix}rl:enroll_key:_invalid_:127.0.0.1`)).toBe(1);
  });

  it('limits verify and status per IP', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_VERIFY_PER_HOUR: '2', EDGE_LIMIT_STATUS_PER_MIN: '2' });
    fx.upstream.respond(202);
    const verify = () => send(edge.port, 'POST', '/api/v1/enroll/verify', { body: { enrollment_id: 'x', signature: 'y' } });
    const status = () => send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
    expect([(await verify()).status, (await verify()).status, (await verify()).status]).toEqual([202, 202, 429]);
    expect([(await status()).status, (await status()).status, (await status()).status]).toEqual([202, 202, 429]);
    expect(fx.upstream.requests).toHaveLength(4);
  });

  it('announces the budget in RateLimit headers', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_STATUS_PER_MIN: '5' });
    fx.upstream.respond(202);
    const res = await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
    expect(res.headers['ratelimit-limit']).toBe('5');
    expect(res.headers['ratelimit-remaining']).toBe('4');
  });
});

describe('without Redis', () => {
  it('warns at startup and still limits in process', async () => {
    const edge = fx.track(await startTestEdge({ EDGE_UPSTREAM: fx.upstream.url, EDGE_LIMIT_STATUS_PER_MIN: '1' }));
    expect(edge.logs.some((l) => l.level === 'warn' && l.msg.includes('REDIS_URL unset'))).toBe(true);
    fx.upstream.respond(202);
    const status = () => send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
    expect((await status()).status).toBe(202);
    expect((await status()).status).toBe(429);
  });
});

describe('refusal log (issue 24)', () => {
  it('logs the first throttle refusal of an (IP, rule) pair in full and counts the rest in one summary line', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_STATUS_PER_MIN: '2', EDGE_REFUSAL_LOG_INTERVAL_MS: '3600000' });
    fx.upstream.respond(202);
    const statuses: number[] = [];
    for (let n = 0; n < 12; n += 1) statuses.push((await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer x' } })).status);
    expect(statuses).toEqual([202, 202, ...Array<number>(10).fill(429)]);
    const access = edge.logs.filter((l) => l.msg === 'access');
    // Two forwarded, one refusal in full; nine counted, no line each.
    expect(access.map((l) => l.fields['status'])).toEqual([202, 202, 429]);
    expect(access[2]?.fields).toMatchObject({ rule: 'status', ip: '127.0.0.1' });
    expect(edge.logs.some((l) => l.msg === 'refusals')).toBe(false);
    // The summary is written when the interval ends, or on shutdown.
    await edge.close();
    const summary = edge.logs.filter((l) => l.msg === 'refusals');
    expect(summary).toHaveLength(1);
    expect(summary[0]?.fields).toMatchObject({ ip: '127.0.0.1', rule: 'status', route: 'status', status: 429, count: 9, seconds: 3600 });
  });

  it('logs every refusal in full with EDGE_REFUSAL_LOG_INTERVAL_MS=0', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_STATUS_PER_MIN: '1', EDGE_REFUSAL_LOG_INTERVAL_MS: '0' });
    fx.upstream.respond(202);
    for (let n = 0; n < 5; n += 1) await send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer x' } });
    await edge.close();
    expect(edge.logs.filter((l) => l.msg === 'access' && l.fields['status'] === 429)).toHaveLength(4);
    expect(edge.logs.some((l) => l.msg === 'refusals')).toBe(false);
  });
});
