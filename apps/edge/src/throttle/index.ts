/**
 * Admission and outcome counting for the forwarded routes. Rules: plan.ts.
 * Stores: Redis (shared, one script per request) or memory (no Redis, or
 * Redis down). Known blocks, lockouts and exhausted budgets are kept in a
 * bounded local cache:
 * - a refused client then costs no Redis round trip (lifts reach the cache
 *   through the `{prefix}lifted` channel; without that subscription the
 *   cache is not trusted while Redis is up);
 * - while Redis is down, the memory store starts from them, so an outage
 *   never unlocks a client this edge knew to be locked out;
 * - blocks made during an outage are kept and written to Redis once it is back.
 *
 * Leases (issue 24): the large per-IP budgets of status and verify are not
 * spent one Redis script per request. The script takes a slice of the
 * budget at once (EDGE_LEASE_PERCENT of the limit, taken against the limit,
 * so the shared count never passes it), with the gates checked in the same
 * call; the edge then spends the slice in memory until it runs out or its
 * window ends. That is only done while this edge hears both the `lifted`
 * channel and the `gated` channel, on which the edge that sets a block
 * publishes it before answering the request that set it: a block set by any
 * edge stops the others' leases within the pub/sub delivery. What a lease did
 * not spend goes back to Redis when the edge stops. Every other budget and
 * gate (enroll, pairing codes, agent routes, lockouts, block thresholds)
 * stays one script per request, exact.
 */
import type { Redis } from 'ioredis';
import { edgeKeys } from '@airlock/lockouts';
import type { EdgeConfig } from '../env.ts';
import type { Logger } from '../log.ts';
import type { LockoutReport } from '../lockout-reports.ts';
import type { Metrics } from '../metrics.ts';
import { MemoryStore } from './memory-store.ts';
import { createRules, type AdmitPlan, type EnrollFacts, type Gate, type ThrottledRoute } from './plan.ts';
import { Leases, type Lease } from './leases.ts';
import { RedisStore } from './redis-store.ts';
import { ExpiringSet, type Verdict } from './verdict.ts';

export type { EnrollFacts, ThrottledRoute } from './plan.ts';

export type Admission =
  | { ok: true; limit?: { limit: number; remaining: number; resetSeconds: number }; streak: boolean }
  | { ok: false; retryAfterSeconds: number; rule: string; key: string; kind: 'limit' | 'lockout' | 'block' | 'error' };

export interface Throttle {
  /**
   * Decides before forwarding. Never forwards on doubt: errors refuse. `ids`: throttleIdentities of the client.
   * Synchronous when the answer is known in memory (a known block or spent budget, or no Redis).
   */
  admit: (route: ThrottledRoute, ids: readonly string[], enroll: EnrollFacts | null) => Admission | Promise<Admission>;
  /** Counts the api's answer (see plan.ts for which answers count where). */
  /** `streak`: from the admission; a success resets a failure streak only when one was seen. */
  recordOutcome: (route: ThrottledRoute, ids: readonly string[], enroll: EnrollFacts | null, status: number, streak: boolean) => Promise<void>;
  redisStatus: () => 'none' | 'up' | 'down';
  /** Resolves once Redis is connected, or after `ms` (then limits start in memory). */
  waitForRedis: (ms: number) => Promise<void>;
  close: () => Promise<void>;
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/** The log line when a gate is set, by rule. */
const BLOCK_LINE: Record<Gate['rule'], string> = {
  consecutive_failures: 'lockout',
  ip_failures: 'block',
  poll_failures: 'poll block',
  agent_failures: 'agent block',
};

/** Plans kept (planOf); a plan is a few hundred bytes. */
const PLAN_CACHE = 10_000;

/** What each gate rule is called in a lockout report (the api's LOCKOUT_KINDS). */
const REPORT_KIND: Record<Gate['rule'], LockoutReport['kind']> = {
  consecutive_failures: 'lockout',
  ip_failures: 'block',
  poll_failures: 'poll_block',
  agent_failures: 'agent_block',
};

const ERROR: Admission = { ok: false, retryAfterSeconds: 1, rule: 'internal', key: '', kind: 'error' };

/** `onGate`: told of every lockout or block this edge sets (issue 20: reported to the api). */
export const createThrottle = (
  config: EdgeConfig,
  logger: Logger,
  metrics: Metrics,
  redis: Redis | null,
  onGate: (r: LockoutReport) => void = () => undefined,
): Throttle => {
  const keys = edgeKeys(config.redisPrefix);
  const rules = createRules(config.limits, keys);
  const knownGates = new ExpiringSet(config.negativeCacheSize);
  const knownSpent = new ExpiringSet(config.negativeCacheSize);
  /** Gates set while Redis was down, to write there once it is back. */
  const madeOffline = new ExpiringSet(config.negativeCacheSize);
  const memory = new MemoryStore(knownGates);
  const store = redis === null ? null : new RedisStore(redis);
  let up = false;
  let liftsHeard = false;
  let subscriber: Redis | null = null;
  /** Blocks set by any edge are published here (see the header comment). */
  const gatedChannel = `${config.redisPrefix}gated`;
  const leases = new Leases(config.leasePercent);

  if (redis === null) {
    logger.log('warn', 'REDIS_URL unset: throttle counters are in-process; run a single edge only');
  } else {
    metrics.redisUp.set(0);
    redis.on('ready', () => {
      if (up) return;
      void restoreOfflineGates().finally(() => {
        // The connection may have dropped again while we were writing.
        if (up || redis.status !== 'ready') return;
        up = true;
        memory.reset();
        metrics.redisUp.set(1);
        metrics.redisTransitions.inc({ to: 'up' });
        logger.log('info', 'redis connected: limits shared through Redis');
      });
    });
    const down = (why: string) => {
      if (!up) return;
      up = false;
      metrics.redisUp.set(0);
      metrics.redisTransitions.inc({ to: 'down' });
      logger.log('error', 'redis unavailable: limiting in memory from the last known blocks', { reason: why });
    };
    redis.on('close', () => down('connection closed'));
    // Without an error listener ioredis would crash the process on ECONNREFUSED.
    redis.on('error', (err: Error) => down(err.message));

    // Lifts by operators (clearLockout) arrive here; only while we hear them
    // may a known block be answered from memory with Redis up.
    const sub = redis.duplicate();
    subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('close', () => {
      liftsHeard = false;
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel !== gatedChannel) {
        knownGates.delete(message);
        return;
      }
      // "<ms> <key>": a block another edge (or this one) just set.
      const cut = message.indexOf(' ');
      const ms = Number(message.slice(0, cut));
      if (cut > 0 && ms > 0) knownGates.set(message.slice(cut + 1), Date.now() + ms);
    });
    sub.on('ready', () => {
      sub.subscribe(keys.liftChannel, gatedChannel).then(
        () => {
          // Lifts and blocks may have been missed while deaf: forget what Redis can tell again,
          // and the leases too (the next slice checks the gates in Redis).
          knownGates.clear();
          leases.clear();
          for (const [key, until] of madeOffline.live(Date.now())) knownGates.set(key, until);
          liftsHeard = true;
        },
        () => undefined,
      );
    });
  }

  const restoreOfflineGates = async (): Promise<void> => {
    if (store === null) return;
    const now = Date.now();
    const pending = [...madeOffline.live(now)];
    for (const [key, until] of pending) {
      try {
        await store.restoreGate(key, until - now);
        madeOffline.delete(key);
        await redis?.publish(gatedChannel, `${Math.round(until - now)} ${key}`);
      } catch {
        // Still down after all; the next `ready` tries again.
        return;
      }
    }
    if (pending.length > 0) logger.log('info', 'blocks made during the redis outage written back', { count: pending.length });
    await restoreOfflineTallies();
  };

  /**
   * Failures counted in memory go to Redis's tallies, so that a source whose
   * wrong tries straddle the outage is locked out at the configured count
   * rather than getting a fresh budget. Two passes: what was counted while
   * the first was written goes too (what arrives after that, until `up`, is
   * the small remainder memory.reset() drops).
   */
  const restoreOfflineTallies = async (): Promise<void> => {
    if (store === null) return;
    let written = 0;
    for (let pass = 0; pass < 2; pass += 1) {
      const held = memory.takeTallies(Date.now());
      for (let i = 0; i < held.length; i += 1) {
        const t = held[i];
        if (t === undefined) continue;
        try {
          await store.addTally(t.key, t.count, t.until - Date.now());
          written += 1;
        } catch {
          // Down again: keep the rest in memory for the next `ready`.
          memory.giveBack(held.slice(i));
          return;
        }
      }
    }
    if (written > 0) logger.log('info', 'failure counts made during the redis outage written back', { count: written });
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    knownGates.sweep(now);
    knownSpent.sweep(now);
    madeOffline.sweep(now);
    memory.sweep(now);
    leases.sweep(now);
  }, 10_000);
  sweep.unref();

  const refuseGate = (gate: Gate, ms: number): Admission => {
    metrics.throttle.inc(gate.rule, gate.kind);
    return { ok: false, retryAfterSeconds: seconds(ms), rule: gate.rule, key: gate.key, kind: gate.kind };
  };

  /** Answers from memory what is already known: no store call for a refused flood. */
  const fromCache = (plan: AdmitPlan, now: number): Admission | null => {
    if (redis === null || !up || liftsHeard) {
      for (const gate of plan.gates) {
        const until = knownGates.until(gate.key, now);
        if (until !== undefined) return refuseGate(gate, until - now);
      }
    }
    for (const b of plan.budgets) {
      const until = knownSpent.until(b.key, now);
      if (until !== undefined) {
        metrics.throttle.inc(b.rule, 'limit');
        return { ok: false, retryAfterSeconds: seconds(until - now), rule: b.rule, key: b.key, kind: 'limit' };
      }
    }
    return null;
  };

  const decide = (plan: AdmitPlan, verdict: Verdict, now: number, shared: boolean): Admission => {
    if (verdict.kind === 'gate') {
      const gate = plan.gates[verdict.index];
      if (gate === undefined) return ERROR;
      knownGates.set(gate.key, now + verdict.ms);
      return refuseGate(gate, verdict.ms);
    }
    const primary = plan.budgets[0];
    if (verdict.kind === 'limit') {
      const b = plan.budgets[verdict.index];
      if (b === undefined) return ERROR;
      // Remember only shared verdicts: an outage-time count must not outlive the outage.
      if (shared) knownSpent.set(b.key, now + verdict.ms);
      metrics.throttle.inc(b.rule, 'limit');
      return { ok: false, retryAfterSeconds: seconds(verdict.ms), rule: b.rule, key: b.key, kind: 'limit' };
    }
    if (primary === undefined) return { ok: true, streak: verdict.watched };
    metrics.throttle.inc(primary.rule, 'allow');
    return {
      ok: true,
      limit: { limit: primary.limit, remaining: Math.max(0, verdict.remaining), resetSeconds: seconds(verdict.ms) },
      streak: verdict.watched,
    };
  };

  const failed = (err: unknown): Admission => {
    // Refuse rather than fail open.
    logger.log('error', 'throttle error; refusing request', { reason: err instanceof Error ? err.message : 'unknown' });
    metrics.throttle.inc('internal', 'error');
    return ERROR;
  };

  const spendLease = (lease: Lease, now: number): Admission => {
    lease.tokens -= 1;
    const primary = lease.plan.budgets[0];
    if (primary !== undefined) metrics.throttle.inc(primary.rule, 'allow');
    return {
      ok: true,
      ...(primary === undefined ? {} : { limit: { limit: primary.limit, remaining: Math.max(0, lease.remaining + lease.tokens), resetSeconds: seconds(lease.until - now) } }),
      streak: false,
    };
  };

  const shared = async (plan: AdmitPlan, leaseKey: string | null = null, slice = 1): Promise<Admission> => {
    try {
      if (store !== null) {
        try {
          const verdict = await store.admit(plan, slice);
          const now = Date.now();
          if (leaseKey !== null && verdict.kind === 'ok') leases.granted(leaseKey, plan, verdict.taken ?? 1, verdict.ms, verdict.remaining, now);
          return decide(plan, verdict, now, true);
        } catch (err) {
          logger.log('error', 'redis throttle call failed; deciding in memory', { reason: err instanceof Error ? err.message : 'unknown' });
        }
      }
      const now = Date.now();
      return decide(plan, memory.admit(plan, now), now, store === null);
    } catch (err) {
      return failed(err);
    }
  };

  /**
   * Plans of the routes whose plan depends on the client's identities only
   * (not enroll, whose plan reads the body): built once per (route, client)
   * and reused, so a flood from one address allocates no plan per request.
   * Plans are read-only. Bounded: emptied when full.
   */
  const plans = new Map<string, AdmitPlan>();
  const planKey = (route: ThrottledRoute, ids: readonly string[]): string => `${route} ${ids[0] ?? ''}`;
  const planOf = (route: ThrottledRoute, ids: readonly string[], enroll: EnrollFacts | null): AdmitPlan => {
    if (route === 'enroll') return rules.admit(route, ids, enroll);
    const key = planKey(route, ids);
    let plan = plans.get(key);
    if (plan === undefined) {
      if (plans.size >= PLAN_CACHE) plans.clear();
      plan = rules.admit(route, ids, enroll);
      plans.set(key, plan);
    }
    return plan;
  };

  const admit: Throttle['admit'] = (route, ids, enroll) => {
    try {
      const plan = planOf(route, ids, enroll);
      const now = Date.now();
      const cached = fromCache(plan, now);
      if (cached !== null) return cached;
      if (store !== null && up) {
        // Leases only while both channels are heard: the gates this edge knows are then all of them.
        const slice = liftsHeard ? leases.sliceOf(route, plan) : 0;
        if (slice > 0) {
          const key = planKey(route, ids);
          const lease = leases.usable(key, now);
          return lease === undefined ? shared(plan, key, slice) : spendLease(lease, now);
        }
        return shared(plan);
      }
      return decide(plan, memory.admit(plan, now), now, store === null);
    } catch (err) {
      return failed(err);
    }
  };

  const recordOutcome: Throttle['recordOutcome'] = async (route, ids, enroll, status, streak) => {
    const plan = rules.outcome(route, ids, enroll, status, streak);
    if (plan === null) return;
    try {
      let set: number[] | null = null;
      if (store !== null && up) {
        try {
          set = await store.record(plan);
        } catch (err) {
          logger.log('error', 'redis outcome call failed; counting in memory', { reason: err instanceof Error ? err.message : 'unknown' });
        }
      }
      const offline = set === null && store !== null;
      const now = Date.now();
      set ??= memory.record(plan, now);
      for (const i of set) {
        const tally = plan.tallies[i];
        const gate = tally?.gate;
        if (tally === undefined || gate === undefined || gate === null) continue;
        knownGates.set(gate.key, now + tally.gateMs);
        if (offline) madeOffline.set(gate.key, now + tally.gateMs);
        // Other edges stop their leases for this client before it hears this answer.
        else if (redis !== null) await redis.publish(gatedChannel, `${Math.round(tally.gateMs)} ${gate.key}`).catch(() => 0);
        const lockout = gate.kind === 'lockout';
        metrics.throttle.inc(gate.rule, lockout ? 'lockout_set' : 'block_set');
        logger.log('warn', lockout ? 'lockout' : BLOCK_LINE[gate.rule], {
          key: gate.key,
          ...(lockout && enroll !== null ? { site_code: enroll.site } : {}),
          ip: ids[0],
          failures: tally.threshold,
          seconds: Math.round(tally.gateMs / 1000),
          ...(offline ? { redis: 'down' } : {}),
        });
        onGate({
          kind: REPORT_KIND[gate.rule],
          siteCode: lockout && enroll !== null ? enroll.site : null,
          sourceIp: ids[0] ?? '',
          untilMs: now + tally.gateMs,
          failures: tally.threshold,
          counters: store !== null && !offline ? 'redis' : 'memory',
        });
      }
    } catch (err) {
      logger.log('error', 'could not record outcome', { reason: err instanceof Error ? err.message : 'unknown' });
    }
  };

  return {
    admit,
    recordOutcome,
    redisStatus: () => (redis === null ? 'none' : up ? 'up' : 'down'),
    waitForRedis: (ms) =>
      new Promise<void>((resolve) => {
        // Up, and hearing lifts and blocks (leases need both); the subscription is
        // quick once Redis answers, and without it the edge only forgoes leases.
        const ready = () => up && (subscriber === null || liftsHeard);
        if (redis === null || ready()) {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          clearInterval(poll);
          logger.log('warn', 'redis not reachable at startup: limiting in memory until it is', {});
          resolve();
        }, ms);
        // `up` turns true a tick after `ready` (after offline blocks are restored).
        const poll = setInterval(() => {
          if (ready()) {
            clearTimeout(timer);
            clearInterval(poll);
            resolve();
          }
        }, 5);
      }),
    close: async () => {
      clearInterval(sweep);
      // What the leases did not spend goes back to their window (not when it is about to end).
      if (store !== null && up) await leases.giveBack(store, Date.now());
      subscriber?.disconnect();
      redis?.disconnect();
    },
  };
};
