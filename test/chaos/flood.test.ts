/**
 * The flood (issue 13): 250 loopback source addresses send junk and wrong
 * pairing codes at the edge as fast as it answers, for 30 s, while 20 real
 * airlock-agent processes, each leaving from its own loopback address, enroll
 * with pairing codes and with the site key. Promises: every real enrollment
 * succeeds; every attacker is locked out and then blocked at the configured
 * counts; the edge's memory stays bounded. The agents' per-request latency
 * (p99) is measured and reported, not asserted: two shared cores are no
 * benchmark.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, REPO_ROOT, sleep, startRedisServer } from '@airlock/testing';
import { startConnectProxy, type ConnectProxy } from './support/connect-proxy.ts';
import { flood, worstPerSource, wrongCodeBody, type FloodResult } from './support/flood.ts';
import { hit, loopbackAddresses, quantile, report } from './support/http.ts';
import { startPrivatePostgres, type PrivatePostgres } from './support/postgres.ts';
import { rssMiB, startScript, type Proc } from './support/processes.ts';
import { startChaosStack, type ChaosStack } from './support/stack.ts';

const FLOOD_MS = 30_000;
const ATTACKERS = 250;
const AGENTS = 20;
const LOCKOUT_FAILURES = 1;
const BLOCK_FAILURES = 3;

let pg: PrivatePostgres;
let redis: RedisServer;
let agentBundle: string;
let stack: ChaosStack;
const proxies: ConnectProxy[] = [];
const agents: Proc[] = [];
let stateRoot: string;

beforeAll(async () => {
  // Its own Postgres: the flood measures this stack, not other tests sharing the server.
  pg = await startPrivatePostgres();
  redis = await startRedisServer();
  stateRoot = mkdtempSync(path.join(tmpdir(), 'airlock-chaos-agents-'));
  // The single-file airlock-agent an appliance installs (plain node, no tsx at run time).
  agentBundle = path.join(stateRoot, 'airlock-agent.mjs');
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'apps/agent/scripts/bundle.ts', '--outfile', agentBundle], { cwd: REPO_ROOT });
  stack = await startChaosStack({
    databaseUrl: await pg.createDatabase('airlock_flood'),
    redisEnv: { REDIS_URL: redis.url },
    tls: true,
    // Agents poll every second, so an auto-approved enrollment finishes in seconds.
    apiEnv: { AIRLOCK_POLL_INTERVAL_SECONDS: '1' },
    edgeEnv: {
      // Lockout per (site, IP) at the first wrong try, block per IP after 3 across
      // sites: low, so that attackers reach them within 30 s even when the api
      // answers only a few dozen requests a second on a loaded machine;
      // the per-IP pairing budget is raised so that those two are what stops the flood.
      EDGE_LOCKOUT_FAILURES: String(LOCKOUT_FAILURES),
      EDGE_BLOCK_FAILURES: String(BLOCK_FAILURES),
      EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '1000',
    },
  });
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop('SIGKILL')));
  await Promise.all(proxies.map((p) => p.close()));
  await stack?.stop();
  await redis?.stop();
  await pg?.destroy();
  rmSync(stateRoot, { recursive: true, force: true });
});

describe('flood while real agents enroll', () => {
  it('enrolls every real agent, locks out and blocks attackers at the configured counts, and keeps the edge bounded', async () => {
    if (!stack.cert) throw new Error('stack has no certificate');
    const edge = await stack.startEdge();
    const server = `https://127.0.0.1:${edge.port}`;
    const pin = `sha256:${stack.cert.sha256}`;
    const site = await stack.admin.site('auto');
    const siteKey = await stack.admin.siteKey(site);
    const codes = await Promise.all(Array.from({ length: AGENTS / 2 }, () => stack.admin.code(site, { autoApprove: true })));

    // ---- the flood -----------------------------------------------------------
    const attackers = loopbackAddresses(ATTACKERS, 101);
    const wrong = wrongCodeBody(site);
    const decoySites = [site, 'NO-SUCH-SITE', `X${site}`];
    const floodEnd = Date.now() + FLOOD_MS;
    const rss: number[] = [await rssMiB(edge.proc.pid)];
    const sampler = setInterval(() => void rssMiB(edge.proc.pid).then((v) => rss.push(v), () => undefined), 500);
    const attack: Promise<FloodResult> = flood({
      url: `${server}/api/v1/enroll`,
      sources: attackers,
      until: () => Date.now() > floodEnd,
      // Junk (not JSON, wrong fields) and wrong codes spread over the real site and two others.
      body: (source, n) =>
        n % 8 === 0
          ? `{"site_code":${n},junk ${randomBytes(8).toString('hex')}`
          : { ...(wrong(source, n) as Record<string, unknown>), site_code: decoySites[n % decoySites.length] },
    });

    // ---- the real agents, from their own addresses, once the flood is at full speed ----
    await sleep(5_000);
    const agentSources = loopbackAddresses(AGENTS, 201);
    for (const source of agentSources) proxies.push(await startConnectProxy(source, edge.port));
    const agentsStartedAt = performance.now();
    agentSources.forEach((_, i) => {
      const code = codes[i];
      const stateDir = path.join(stateRoot, `agent-${i}`);
      const common = ['enroll', '--server', server, '--site', site, '--pin', pin, '--state-dir', stateDir, '--name', `appliance-${i}`, '--timeout', '120'];
      const args = code ? [...common, '--code', code.code] : [...common, '--machine-uid', `chaos-machine-${i}-${randomBytes(3).toString('hex')}`];
      agents.push(
        startScript(agentBundle, { HTTPS_PROXY: proxies[i]?.url ?? '', ...(code ? {} : { AIRLOCK_ENROLLMENT_KEY: siteKey }) }, args),
      );
    });
    const exits = await Promise.all(agents.map((a) => a.exited));
    const agentsDoneMs = performance.now() - agentsStartedAt;
    const result = await attack;
    clearInterval(sampler);

    // Every real enrollment succeeded, under the flood.
    const failedAgents = agents.filter((_, i) => exits[i]?.code !== 0).map((a) => a.output().slice(-600));
    expect(failedAgents).toEqual([]);
    for (const a of agents) expect(a.output()).toMatch(/Approved: enrolled as agent [0-9a-f-]{36} of site/);
    const listed = await stack.admin.call('GET', `/api/v1/admin/agents?site_code=${site}&status=active&limit=500`);
    const active = (listed.body.items as Array<{ site_code: string; status: string }>).filter((x) => x.site_code === site && x.status === 'active');
    expect(active).toHaveLength(AGENTS);

    // Every attacker was stopped at the configured counts: blocked once it had
    // 3 wrong answers across sites, never given a 4th. How many attackers get
    // that far in 30 s depends on the machine, so it is reported, not fixed.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const blocked = await Promise.all(attackers.map((ip) => client.exists(`${stack.redisPrefix}block:${ip}`)));
      const lockedAtRealSite = await Promise.all(attackers.map((ip) => client.exists(`${stack.redisPrefix}lockout:${site}:${ip}`)));
      const worst401 = worstPerSource(result, 401);
      const trips = proxies.flatMap((p) => p.roundTripsMs);
      report('flood', {
        flood_seconds: FLOOD_MS / 1000,
        attacker_addresses: ATTACKERS,
        attacker_requests: result.requests,
        attacker_answers: result.byStatus,
        attacker_transport_errors: result.errorCodes,
        attackers_blocked: blocked.filter((n) => n === 1).length,
        attackers_reaching_block_threshold: attackers.filter((ip) => (result.perSource.get(ip)?.[401] ?? 0) >= BLOCK_FAILURES).length,
        attackers_locked_out_at_real_site: lockedAtRealSite.filter((n) => n === 1).length,
        max_401_per_attacker: worst401,
        attackers_over_block_threshold: attackers.filter((ip) => (result.perSource.get(ip)?.[401] ?? 0) > BLOCK_FAILURES).length,
        real_agents: AGENTS,
        real_agents_enrolled: exits.filter((e) => e.code === 0).length,
        agents_all_done_after_ms: Math.round(agentsDoneMs),
        agent_round_trips: trips.length,
        agent_round_trip_p50_ms: Math.round(quantile(trips, 0.5)),
        agent_round_trip_p99_ms: Math.round(quantile(trips, 0.99)),
        agent_round_trip_max_ms: Math.round(Math.max(...trips)),
        edge_rss_mib_start: rss[0],
        edge_rss_mib_max: Math.max(...rss),
      });
      // A Redis command that times out (500 ms) on a saturated machine is counted by
      // the edge's in-memory insurance limiter instead, so one source's failures can
      // be split between the two: at most one more budget, never unlimited.
      expect(worst401).toBeLessThanOrEqual(2 * BLOCK_FAILURES);
      // Every attacker that got as far as the threshold is refused from now on.
      const reachedBlock = attackers.filter((ip) => (result.perSource.get(ip)?.[401] ?? 0) >= BLOCK_FAILURES);
      const overshoot = await Promise.all(
        reachedBlock.map(async (ip) => {
          let seen = result.perSource.get(ip)?.[401] ?? 0;
          for (let i = 0; i <= 2 * BLOCK_FAILURES; i += 1) {
            const res = await hit(`${server}/api/v1/enroll`, { body: { ...(wrong(ip, 7_000 + i) as Record<string, unknown>), site_code: `NO-SITE-${i}` }, localAddress: ip, timeoutMs: 60_000 });
            if (res.status === 429) break;
            expect(res.status).toBe(401);
            seen += 1;
          }
          return seen;
        }),
      );
      expect(overshoot.every((n) => n <= 2 * BLOCK_FAILURES)).toBe(true);
      // How far attackers got in 30 s depends on the machine; the rules must fire
      // all the same. Five of them go on trying until refused: locked out at the
      // real site after LOCKOUT_FAILURES, blocked everywhere after BLOCK_FAILURES.
      for (const ip of attackers.slice(0, 5)) {
        let seen401 = result.perSource.get(ip)?.[401] ?? 0;
        const tryOnce = async (siteCode: string, n: number) => {
          const res = await hit(`${server}/api/v1/enroll`, { body: { ...(wrong(ip, n) as Record<string, unknown>), site_code: siteCode }, localAddress: ip, timeoutMs: 60_000 });
          expect([401, 429]).toContain(res.status);
          if (res.status === 401) seen401 += 1;
          return res.status;
        };
        let atSite = 0;
        for (let i = 0; i <= LOCKOUT_FAILURES && (await tryOnce(site, 5_000 + i)) === 401; i += 1) atSite += 1;
        expect(atSite).toBeLessThanOrEqual(LOCKOUT_FAILURES);
        expect((await client.exists(`${stack.redisPrefix}lockout:${site}:${ip}`)) + (await client.exists(`${stack.redisPrefix}block:${ip}`))).toBeGreaterThan(0);
        for (let i = 0; i <= BLOCK_FAILURES && (await tryOnce(`NO-SITE-${i}`, 6_000 + i)) === 401; i += 1);
        expect(await client.exists(`${stack.redisPrefix}block:${ip}`)).toBe(1);
        // Flood and follow-up together: the threshold, or one more budget after a split count.
        expect(seen401).toBeLessThanOrEqual(2 * BLOCK_FAILURES);
      }
      expect(result.byStatus[500] ?? 0).toBe(0);
      expect(edge.proc.alive()).toBe(true);
      // Bounded: 250 attackers for 30 s do not grow the edge without limit.
      expect(Math.max(...rss)).toBeLessThan(400);
    } finally {
      client.disconnect();
    }
  });
});
