/**
 * Issue 24: leased budgets, with two edges on one Redis (a private
 * redis-server, so its command counts are the edges' alone). The large
 * status budget is leased in slices and never passes its limit; what a
 * stopped edge did not spend goes back; the exact budgets (pairing codes)
 * stay exact; a block set through one edge stops the other's lease at once.
 */
import { describe, expect, it } from 'vitest';
import { usePrivateRedisFixture } from './testing/fixture.ts';
import { startTestEdge } from './testing/harness.ts';
import { enrollWithCode, send, uniquePrefix } from '@airlock/testing';

const fx = usePrivateRedisFixture();

const scriptCalls = async (): Promise<number> => {
  const info = await fx.probe.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) total += Number(m[2]);
  return total;
};

/** Two edges on one Redis prefix, as two replicas behind one load balancer. */
const twoEdges = async (env: Record<string, string>) => {
  const prefix = uniquePrefix();
  const common = { EDGE_UPSTREAM: fx.upstream.url, REDIS_URL: fx.redisServer.url, EDGE_REDIS_PREFIX: prefix, ...env };
  const a = await startTestEdge(common);
  const b = await startTestEdge(common);
  return { a, b, prefix, close: () => Promise.all([a.close(), b.close()]) };
};

const status = (port: number) => send(port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });

describe('leased budgets across two edges', () => {
  it('never passes the limit, leaves no slice unspent when both edges are used, and costs one script per slice', async () => {
    const edges = await twoEdges({ EDGE_LIMIT_STATUS_PER_MIN: '100', EDGE_LEASE_PERCENT: '10' });
    try {
      fx.upstream.requests.length = 0;
      fx.upstream.respond(202);
      const before = await scriptCalls();
      const statuses: number[] = [];
      for (let i = 0; i < 130; i += 1) statuses.push((await status(i % 2 === 0 ? edges.a.port : edges.b.port)).status);
      const forwarded = statuses.filter((s) => s === 202).length;
      // Slices are taken against the limit: the shared count never passes it.
      expect(forwarded).toBe(100);
      expect(statuses.slice(100).every((s) => s === 429)).toBe(true);
      expect(Number(await fx.probe.get(`${edges.prefix}rl:status:127.0.0.1`))).toBe(100);
      // 10 slices of 10, then one refused slice per edge (remembered from then on).
      expect((await scriptCalls()) - before).toBe(12);
    } finally {
      await edges.close();
    }
  });

  it('gives back what a stopped edge did not spend', async () => {
    const edges = await twoEdges({ EDGE_LIMIT_STATUS_PER_MIN: '100', EDGE_LEASE_PERCENT: '10' });
    fx.upstream.respond(202);
    expect((await status(edges.a.port)).status).toBe(202);
    expect((await status(edges.b.port)).status).toBe(202);
    // Two slices of 10 taken, one request spent from each.
    expect(Number(await fx.probe.get(`${edges.prefix}rl:status:127.0.0.1`))).toBe(20);
    await edges.close();
    expect(Number(await fx.probe.get(`${edges.prefix}rl:status:127.0.0.1`))).toBe(2);
  });

  it('keeps the pairing-code budget exact: 10 an hour across both edges', async () => {
    const edges = await twoEdges({ EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '10', EDGE_LIMIT_ENROLL_PER_MIN: '1000', EDGE_LEASE_PERCENT: '50' });
    try {
      fx.upstream.requests.length = 0;
      fx.upstream.respond(201);
      const statuses: number[] = [];
      for (let i = 0; i < 16; i += 1) statuses.push((await enrollWithCode(i % 2 === 0 ? edges.a.port : edges.b.port, 'ACME')).status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(10);
      expect(fx.upstream.requests).toHaveLength(10);
    } finally {
      await edges.close();
    }
  });

  it('stops the other edge’s lease as soon as a block is set through one edge', async () => {
    const edges = await twoEdges({ EDGE_LIMIT_STATUS_PER_MIN: '1000', EDGE_LEASE_PERCENT: '10', EDGE_POLL_BLOCK_FAILURES: '3' });
    try {
      fx.upstream.respond(202);
      // Edge B holds a lease of 100 for this client.
      expect((await status(edges.b.port)).status).toBe(202);
      fx.upstream.respond(404);
      for (let i = 0; i < 3; i += 1) expect((await status(edges.a.port)).status).toBe(404);
      fx.upstream.requests.length = 0;
      // The third failure set the poll block; B hears it before A answered it.
      const refused = await status(edges.b.port);
      expect(refused.status).toBe(429);
      expect(fx.upstream.requests).toHaveLength(0);
      expect(await fx.probe.exists(`${edges.prefix}pollblock:127.0.0.1`)).toBe(1);
    } finally {
      await edges.close();
    }
  });
});
