/**
 * Issue #12: Redis round trips per request, counted by the Redis server itself
 * (INFO commandstats on a private redis-server): one script per forwarded
 * request (leases off; with them, edge.lease.test.ts), none for a request
 * refused before throttling, none for a client whose block or exhausted
 * budget this edge already knows.
 */
import { describe, expect, it } from 'vitest';
import { clearLockout } from '@airlock/lockouts';
import { usePrivateRedisFixture } from './testing/fixture.ts';
import { startTestEdge } from './testing/harness.ts';
import { enrollWithKey, rawRequest, req, send, uniquePrefix, waitFor } from '@airlock/testing';

const fx = usePrivateRedisFixture();

/** Calls of every command (script-internal ones included), as Redis counts them. */
const commandCalls = async (): Promise<number> => {
  const info = await fx.probe.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    const name = m[1] ?? '';
    // The probe's own INFO calls and the subscriber's handshake are not the edge's request path.
    if (name === 'info' || name === 'subscribe' || name === 'ping' || name === 'client' || name === 'select') continue;
    total += Number(m[2]);
  }
  return total;
};

/** Script calls (EVALSHA, or EVAL while a script loads): the edge's round trips on the request path. */
const scriptCalls = async (): Promise<number> => {
  const info = await fx.probe.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) total += Number(m[2]);
  return total;
};

const edgeOn = async (env: Record<string, string> = {}) =>
  startTestEdge({ EDGE_UPSTREAM: fx.upstream.url, REDIS_URL: fx.redisServer.url, EDGE_REDIS_PREFIX: uniquePrefix(), ...env });

const status = (port: number) => send(port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });

describe('Redis round trips', () => {
  it('costs one script call per forwarded request, including a successful enroll (leases off)', async () => {
    // With leases (EDGE_LEASE_PERCENT, issue 24) status costs one script per slice: edge.lease.test.ts.
    const edge = await edgeOn({ EDGE_LEASE_PERCENT: '0' });
    try {
      // Scripts load once (EVALSHA falls back to EVAL); warm them up first.
      fx.upstream.respond(202);
      await status(edge.port);
      fx.upstream.respond(201);
      await enrollWithKey(edge.port, 'ACME', 'warm');
      const before = await scriptCalls();
      fx.upstream.respond(202);
      for (let i = 0; i < 10; i += 1) expect((await status(edge.port)).status).toBe(202);
      fx.upstream.respond(201);
      for (let i = 0; i < 10; i += 1) expect((await enrollWithKey(edge.port, 'ACME', `m${i}`)).status).toBe(201);
      expect((await scriptCalls()) - before).toBe(20);
    } finally {
      await edge.close();
    }
  });

  it('costs nothing for requests refused before throttling', async () => {
    const edge = await edgeOn();
    try {
      const before = await commandCalls();
      await rawRequest(edge.port, req('GET', '/nope'));
      await rawRequest(edge.port, req('GET', '/api/v1/enroll/status?token=x'));
      await rawRequest(edge.port, req('GET', '/api/v1/enroll/status', [['X-Forwarded-For', '1.2.3.4']]));
      await rawRequest(edge.port, req('GET', '/healthz'));
      expect(await commandCalls()).toBe(before);
    } finally {
      await edge.close();
    }
  });

  it('answers a known lockout and an exhausted budget from memory, and hears a lift at once', async () => {
    const prefix = uniquePrefix();
    const edge = await startTestEdge({
      EDGE_UPSTREAM: fx.upstream.url,
      REDIS_URL: fx.redisServer.url,
      EDGE_REDIS_PREFIX: prefix,
      EDGE_LOCKOUT_FAILURES: '2',
      EDGE_LIMIT_STATUS_PER_MIN: '1',
    });
    try {
      fx.upstream.respond(401);
      await enrollWithKey(edge.port, 'ACME', 'a');
      await enrollWithKey(edge.port, 'ACME', 'b');
      expect((await enrollWithKey(edge.port, 'ACME', 'c')).status).toBe(429);
      fx.upstream.respond(202);
      await status(edge.port);
      expect((await status(edge.port)).status).toBe(429);

      const before = await commandCalls();
      for (let i = 0; i < 20; i += 1) {
        expect((await enrollWithKey(edge.port, 'ACME', `x${i}`)).status).toBe(429);
        expect((await status(edge.port)).status).toBe(429);
      }
      expect(await commandCalls()).toBe(before);

      // An operator lifts the lockout: the cached one goes with it.
      expect(await clearLockout(fx.probe, `${prefix}lockout:ACME:127.0.0.1`, { prefix })).toBe(true);
      fx.upstream.respond(201);
      await waitFor(async () => (await enrollWithKey(edge.port, 'ACME', 'after')).status === 201, 'lift to reach the edge', 5_000);
    } finally {
      await edge.close();
    }
  });
});
