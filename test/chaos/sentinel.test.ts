/**
 * Redis Sentinel (issue 13): the edge and the api's lockout admin configured
 * with REDIS_SENTINELS + REDIS_SENTINEL_NAME instead of REDIS_URL, against a
 * real primary, replica and three sentinels. The primary is SIGKILLed during
 * a wrong-code flood; limits hold in memory until the sentinels promote the
 * replica; then the counters continue on it: the lockouts taken before the
 * failover are still there (replicated), new failures are counted there and
 * shared by both edges, and the operator's lockout list reads them.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '@airlock/testing';
import { allLocked, flood, lockoutOnlyEdgeEnv, worstPerSource, wrongCodeBody, type FloodResult } from './support/flood.ts';
import { hit, loopbackAddresses, report } from './support/http.ts';
import { rssMiB } from './support/processes.ts';
import { DOWN_AFTER_MS, startSentinelGroup, type SentinelGroup } from './support/sentinel.ts';
import { startChaosStack, type ChaosStack } from './support/stack.ts';

const LOCKOUT_FAILURES = 5;

let group: SentinelGroup;
let stack: ChaosStack;

beforeAll(async () => {
  group = await startSentinelGroup();
  stack = await startChaosStack({
    redisEnv: group.env,
    edgeEnv: lockoutOnlyEdgeEnv(LOCKOUT_FAILURES),
  });
});

afterAll(async () => {
  await stack?.stop();
  await group?.stop();
});

const worst401 = (r: FloodResult): number => worstPerSource(r, 401);

describe('Redis Sentinel failover under a flood', () => {
  it('holds limits in memory during the failover and continues the shared counters on the promoted replica', async () => {
    const [a, b] = [await stack.startEdge(), await stack.startEdge()];
    if (!a || !b) throw new Error('edges did not start');
    const site = await stack.admin.site('manual');
    const body = wrongCodeBody(site);
    const lockKey = (ip: string) => `${stack.redisPrefix}lockout:${site}:${ip}`;
    const failKey = (ip: string) => `${stack.redisPrefix}fail:site:${site}:${ip}`;
    const on = (port: number) => {
      const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
      r.on('error', () => undefined);
      return r;
    };

    // ---- before: locked out through the primary --------------------------
    const before = loopbackAddresses(20, 21);
    let stop = Date.now() + 20_000;
    const up = await flood({ url: `http://127.0.0.1:${a.port}/api/v1/enroll`, sources: before, body, until: (r) => Date.now() > stop || allLocked(r) });
    expect(worst401(up)).toBeLessThanOrEqual(LOCKOUT_FAILURES);
    const primary = on(group.primaryPort);
    await primary.connect();
    expect((await Promise.all(before.map((ip) => primary.exists(lockKey(ip))))).every((n) => n === 1)).toBe(true);
    // The replica has them before the primary dies (what a failover can keep).
    await primary.call('WAIT', 1, 2_000);
    primary.disconnect();
    // The operator's lockout list reads them through the sentinels too.
    const listed = await stack.admin.call('GET', '/api/v1/admin/lockouts');
    expect(listed.status).toBe(200);
    const listedIps = new Set((listed.body.items as Array<{ ip: string; site_code: string }>).filter((l) => l.site_code === site).map((l) => l.ip));
    expect(before.every((ip) => listedIps.has(ip))).toBe(true);

    // ---- primary SIGKILLed mid-flood: limits hold in memory ------------------
    const during = loopbackAddresses(30, 22);
    stop = Date.now() + 1_000_000;
    let failedOver = false;
    const killedAt = performance.now();
    const mid = flood({ url: `http://127.0.0.1:${b.port}/api/v1/enroll`, sources: during, body, until: () => failedOver || Date.now() > stop });
    await sleep(200);
    await group.killPrimary();
    // In the window before the promotion, the rule holds in memory: a new source
    // gets exactly LOCKOUT_FAILURES wrong answers, then 429.
    const lone = loopbackAddresses(1, 25)[0] ?? '';
    const loneStatuses: number[] = [];
    while (loneStatuses.at(-1) !== 429 && loneStatuses.length <= LOCKOUT_FAILURES + 1) {
      loneStatuses.push((await hit(`http://127.0.0.1:${a.port}/api/v1/enroll`, { body: body(lone, loneStatuses.length), localAddress: lone })).status);
    }
    const loneBeforePromotion = (await group.currentPrimaryPort()) === group.primaryPort;
    await waitFor(async () => (await group.currentPrimaryPort()) === group.replicaPort, 'the sentinels to promote the replica', 60_000);
    const failoverMs = performance.now() - killedAt;
    failedOver = true;
    const midResult = await mid;
    expect(midResult.byStatus[500] ?? 0).toBe(0);
    // Sources that began before the kill may get one more budget in memory, never more.
    expect(worst401(midResult)).toBeLessThanOrEqual(2 * LOCKOUT_FAILURES);
    if (loneStatuses.at(-1) !== 429) process.stderr.write(`LONE ${loneStatuses} ${loneBeforePromotion}\nEDGE A:\n${a.proc.output().slice(-3000)}\n`);
    expect(loneStatuses).toEqual([...Array<number>(LOCKOUT_FAILURES).fill(401), 429]);
    expect(a.proc.alive() && b.proc.alive()).toBe(true);

    // ---- after: the counters continue on the promoted replica ------------------
    const promoted = on(group.replicaPort);
    await promoted.connect();
    // What was counted before the failover is still in force.
    expect((await Promise.all(before.map((ip) => promoted.exists(lockKey(ip))))).every((n) => n === 1)).toBe(true);
    // Both edges write to the new primary again (each follows the sentinels on its own).
    // A fresh source per try: a source locked out in memory would never reach the api again.
    const probes = loopbackAddresses(400, 23);
    const followedAt: Array<number | null> = [null, null];
    for (let i = 0; i < 200 && followedAt.some((t) => t === null); i += 1) {
      await Promise.all(
        [a, b].map(async (edge, e) => {
          if (followedAt[e] !== null) return;
          const source = probes[2 * i + e] ?? '';
          const res = await hit(`http://127.0.0.1:${edge.port}/api/v1/enroll`, { body: body(source, i), localAddress: source });
          expect([401, 429, 503]).toContain(res.status);
          if ((await promoted.exists(failKey(source))) === 1) followedAt[e] = performance.now() - killedAt;
        }),
      );
      await sleep(100);
    }
    expect(followedAt.every((t) => t !== null)).toBe(true);
    // Shared: failures split across the two edges make one lockout, on the new primary.
    const shared = loopbackAddresses(1, 24)[0] ?? '';
    const statuses: number[] = [];
    for (let i = 0; i < LOCKOUT_FAILURES + 2; i += 1) {
      const edge = i % 2 === 0 ? a : b;
      statuses.push((await hit(`http://127.0.0.1:${edge.port}/api/v1/enroll`, { body: body(shared, i), localAddress: shared })).status);
    }
    expect(statuses).toEqual([...Array<number>(LOCKOUT_FAILURES).fill(401), 429, 429]);
    expect(await promoted.exists(lockKey(shared))).toBe(1);
    promoted.disconnect();
    // And the api's lockout admin follows the failover as well. Its client
    // reconnects on its own back-off (up to 2 s between tries), so right after
    // the promotion it may still answer 503 (the envelope for "Redis not
    // reachable"), never stale data; it must follow within a few seconds.
    let adminFollowedAt = 0;
    const relisted = await waitFor(async () => {
      const r = await stack.admin.call('GET', '/api/v1/admin/lockouts');
      expect([200, 503]).toContain(r.status);
      adminFollowedAt = performance.now() - killedAt;
      return r.status === 200 ? r : null;
    }, 'the api lockout admin to follow the failover', 15_000);
    expect((relisted.body.items as Array<{ ip: string }>).some((l) => l.ip === shared)).toBe(true);

    report('redis sentinel failover', {
      failover_ms: Math.round(failoverMs),
      sentinel_down_after_ms: DOWN_AFTER_MS,
      lone_source_refused_before_promotion: loneBeforePromotion,
      edges_writing_to_new_primary_after_ms: Math.round(Math.max(...followedAt.map((t) => t ?? NaN))),
      api_lockout_admin_following_after_ms: Math.round(adminFollowedAt),
      requests_during_failover: midResult.requests,
      answers_during_failover: midResult.byStatus,
      max_401_per_source_during_failover: worst401(midResult),
      edge_rss_mib: await rssMiB(b.proc.pid),
    });
  });
});
