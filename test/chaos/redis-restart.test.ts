/**
 * Redis SIGKILLed in the middle of a wrong-code flood through two edge
 * processes, then restarted empty (issue 13). Promises: while it is down the
 * lockout still holds, in each edge's memory; no edge crashes and its memory
 * stays bounded; within seconds of Redis coming back the counters are shared
 * through it again, so failures split across both edges make one lockout.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, sleep, startRedisServer } from '@airlock/testing';
import { allLocked, flood, lockoutOnlyEdgeEnv, worstPerSource, wrongCodeBody, type FloodResult } from './support/flood.ts';
import { hit, loopbackAddresses, report } from './support/http.ts';
import { rssMiB } from './support/processes.ts';
import { startChaosStack, type ChaosStack } from './support/stack.ts';

const LOCKOUT_FAILURES = 5;

let redis: RedisServer;
let stack: ChaosStack;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startChaosStack({
    redisEnv: { REDIS_URL: redis.url },
    edgeEnv: lockoutOnlyEdgeEnv(LOCKOUT_FAILURES),
  });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

/** The most wrong-code answers (401) any one source got: the lockout caps it. */
const worst401 = (r: FloodResult): number => worstPerSource(r, 401);

describe('Redis killed mid-flood and restarted', () => {
  it('keeps lockouts in memory while down and shares counters through Redis again once back', async () => {
    const [a, b] = [await stack.startEdge(), await stack.startEdge()];
    if (!a || !b) throw new Error('edges did not start');
    const site = await stack.admin.site('manual');
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200, lazyConnect: true });
    client.on('error', () => undefined);
    await client.connect();
    const failKey = (ip: string) => `${stack.redisPrefix}fail:site:${site}:${ip}`;
    const lockKey = (ip: string) => `${stack.redisPrefix}lockout:${site}:${ip}`;
    const body = wrongCodeBody(site);

    // ---- Redis up: the flood is locked out through Redis ---------------------
    const upSources = loopbackAddresses(40, 11);
    // Until every source is locked out (each has met a 429), at most 20 s.
    let stop = Date.now() + 20_000;
        const up = await Promise.all([
      flood({ url: `http://127.0.0.1:${a.port}/api/v1/enroll`, sources: upSources.slice(0, 20), body, until: (r) => Date.now() > stop || allLocked(r) }),
      flood({ url: `http://127.0.0.1:${b.port}/api/v1/enroll`, sources: upSources.slice(20), body, until: (r) => Date.now() > stop || allLocked(r) }),
    ]);
    expect(up.map(worst401).every((n) => n <= LOCKOUT_FAILURES)).toBe(true);
    const lockedInRedis = (await Promise.all(upSources.map((ip) => client.exists(lockKey(ip))))).filter((n) => n === 1).length;
    expect(lockedInRedis).toBe(upSources.length);
    const rssBefore = await rssMiB(a.proc.pid);

    // ---- Redis killed mid-flood: the lockout holds in each edge's memory -------
    const downSources = loopbackAddresses(40, 12);
    const freshSources = loopbackAddresses(20, 15);
    stop = Date.now() + 4_000;
    const during = flood({ url: `http://127.0.0.1:${a.port}/api/v1/enroll`, sources: downSources, body, until: () => Date.now() > stop });
    await sleep(300);
    await redis.stop();
    // Sources that begin while Redis is down meet the in-memory limit from their first try.
    await sleep(500);
    const fresh = await flood({ url: `http://127.0.0.1:${b.port}/api/v1/enroll`, sources: freshSources, body, until: () => Date.now() > stop });
    const down = await during;
    const rssDown = await rssMiB(a.proc.pid);
    expect(worst401(fresh)).toBeLessThanOrEqual(LOCKOUT_FAILURES);
    // A source half-way through its budget when Redis died keeps what Redis
    // counted and starts again in memory: at most one more budget, never unlimited.
    expect(worst401(down)).toBeLessThanOrEqual(2 * LOCKOUT_FAILURES);
    expect(down.byStatus[500] ?? 0).toBe(0);
    // However slow the machine, the rule itself holds while Redis is still down:
    // a new source gets exactly LOCKOUT_FAILURES wrong answers, then 429.
    const lone = loopbackAddresses(1, 16)[0] ?? '';
    const loneStatuses: number[] = [];
    while (loneStatuses.at(-1) !== 429 && loneStatuses.length <= LOCKOUT_FAILURES + 1) {
      loneStatuses.push((await hit(`http://127.0.0.1:${a.port}/api/v1/enroll`, { body: body(lone, loneStatuses.length), localAddress: lone })).status);
    }
    expect(loneStatuses).toEqual([...Array<number>(LOCKOUT_FAILURES).fill(401), 429]);
    expect(a.proc.alive() && b.proc.alive()).toBe(true);
    // Bounded: a flood against a dead Redis does not grow the edge without limit.
    expect(rssDown).toBeLessThan(400);

    // ---- Redis back (empty): counters land in Redis again within seconds ------
    const restartedAt = performance.now();
    await redis.start();
    // One probe source per edge; recovered once both edges' counters land in Redis.
    // A fresh source per try: a source locked out in memory would never reach the api again.
    const probes = loopbackAddresses(300, 13);
    const recoveredAt: Array<number | null> = [null, null];
    let probeRequests = 0;
    for (let i = 0; i < 150 && recoveredAt.some((t) => t === null); i += 1) {
      await Promise.all(
        [a, b].map(async (edge, e) => {
          if (recoveredAt[e] !== null) return;
          const source = probes[2 * i + e] ?? '';
          const res = await hit(`http://127.0.0.1:${edge.port}/api/v1/enroll`, { body: body(source, i), localAddress: source });
          probeRequests += 1;
          expect([401, 429, 503]).toContain(res.status);
          if ((await client.exists(failKey(source)).catch(() => 0)) === 1) recoveredAt[e] = performance.now() - restartedAt;
        }),
      );
      await sleep(100);
    }
    expect(recoveredAt.every((t) => t !== null)).toBe(true);
    const recoveredMs = Math.max(...recoveredAt.map((t) => t ?? NaN));

    // Shared again: five failures split across both edges make one lockout, seen by both.
    const shared = loopbackAddresses(1, 14)[0] ?? '';
    const edges = [a, b];
    const statuses: number[] = [];
    for (let i = 0; i < LOCKOUT_FAILURES + 2; i += 1) {
      const edge = edges[i % 2] ?? a;
      statuses.push((await hit(`http://127.0.0.1:${edge.port}/api/v1/enroll`, { body: body(shared, i), localAddress: shared })).status);
    }
    expect(statuses).toEqual([...Array<number>(LOCKOUT_FAILURES).fill(401), 429, 429]);
    expect(await client.exists(lockKey(shared))).toBe(1);
    client.disconnect();

    report('redis restart', {
      requests_up: up.reduce((n, r) => n + r.requests, 0),
      requests_while_down: down.requests,
      answers_while_down: down.byStatus,
      max_401_per_source_caught_by_the_kill: worst401(down),
      max_401_per_source_started_while_down: worst401(fresh),
      answers_fresh_sources_while_down: fresh.byStatus,
      edge_rss_mib_before: rssBefore,
      edge_rss_mib_while_down: rssDown,
      counters_in_redis_again_after_ms: Math.round(recoveredMs),
      probe_requests_until_then: probeRequests,
    });
  });
});
