import type { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { createRedisClient, edgeKeys, type EdgeKeys } from '@airlock/lockouts';
import type { EdgeConfig } from './env.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

/** How an enroll request is throttled, read from its bounded JSON body. */
export interface EnrollFacts {
  site: string;
  method: 'key' | 'pairing';
}

export type ThrottledRoute = 'enroll' | 'verify' | 'status';

export type Admission =
  | { ok: true; limit?: { limit: number; remaining: number; resetSeconds: number } }
  | { ok: false; retryAfterSeconds: number; rule: string; key: string; kind: 'limit' | 'lockout' | 'block' | 'error' };

export interface Throttle {
  /** Decides before forwarding. Never forwards on doubt: errors refuse. */
  admit: (route: ThrottledRoute, ip: string, enroll: EnrollFacts | null) => Promise<Admission>;
  /** Counts the api's answer: 401 is a failure, 2xx ends a failure streak. */
  recordOutcome: (route: ThrottledRoute, ip: string, enroll: EnrollFacts | null, status: number) => Promise<void>;
  redisStatus: () => 'none' | 'up' | 'down';
  /** Resolves once Redis is connected, or after `ms` (then limits start in memory). */
  waitForRedis: (ms: number) => Promise<void>;
  close: () => Promise<void>;
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

export const createThrottle = (config: EdgeConfig, logger: Logger, metrics: Metrics): Throttle => {
  const keys: EdgeKeys = edgeKeys(config.redisPrefix);
  const l = config.limits;
  let redis: Redis | null = null;
  let up = false;

  if (config.redis === null) {
    logger.log('warn', 'REDIS_URL unset: throttle counters are in-process; run a single edge only');
  } else {
    // One server or a Sentinel group; the Sentinel client follows a failover itself.
    redis = createRedisClient(config.redis, {
      // Fail commands at once while disconnected, so the insurance limiter
      // answers instead of requests queueing behind a dead Redis.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 500,
      connectTimeout: 1_000,
      // Reconnect forever, quickly at first, so limits move back to Redis soon.
      retryStrategy: (times) => Math.min(100 * times, 2_000),
      // Concurrent requests' commands share one write: fewer syscalls under load.
      enableAutoPipelining: true,
    });
    metrics.redisUp.set(0);
    redis.on('ready', () => {
      if (!up) {
        up = true;
        metrics.redisUp.set(1);
        metrics.redisTransitions.inc({ to: 'up' });
        logger.log('info', 'redis connected: limits shared through Redis');
      }
    });
    const down = (why: string) => {
      if (up) {
        up = false;
        metrics.redisUp.set(0);
        metrics.redisTransitions.inc({ to: 'down' });
        logger.log('error', 'redis unavailable: limiting with in-memory insurance limiter', { reason: why });
      }
    };
    redis.on('close', () => down('connection closed'));
    // Without an error listener ioredis would crash the process on ECONNREFUSED.
    redis.on('error', (err: Error) => down(err.message));
  }

  const make = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration });
    if (redis === null) return memory;
    return new RateLimiterRedis({
      storeClient: redis,
      keyPrefix,
      points,
      duration,
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory,
    });
  };

  const limiters = {
    enrollKey: make(keys.ns.enrollKey, l.enrollKeyPerMin, 60),
    enrollPairing: make(keys.ns.enrollPairing, l.enrollPairingPerHour, 3_600),
    verify: make(keys.ns.verify, l.verifyPerHour, 3_600),
    status: make(keys.ns.status, l.statusPerMin, 60),
    failSite: make(keys.ns.failSite, l.lockoutFailures, l.lockoutFailureWindowSeconds),
    failIp: make(keys.ns.failIp, l.blockFailures, l.blockWindowSeconds),
    // One point: any key present with a block on it is an active lockout/block.
    lockout: make(keys.ns.lockout, 1, l.lockoutSeconds),
    block: make(keys.ns.block, 1, l.blockSeconds),
  };

  const activeFor = async (limiter: RateLimiterAbstract, key: string): Promise<number | null> => {
    const res = await limiter.get(key);
    return res !== null && res.consumedPoints > limiter.points ? res.msBeforeNext : null;
  };

  const rateRule = (route: ThrottledRoute, enroll: EnrollFacts | null, ipKey: string) => {
    if (route === 'verify') return { rule: 'verify', limiter: limiters.verify, key: ipKey, full: `${keys.ns.verify}:${ipKey}` };
    if (route === 'status') return { rule: 'status', limiter: limiters.status, key: ipKey, full: `${keys.ns.status}:${ipKey}` };
    if (enroll?.method === 'key') {
      const key = keys.siteIp(enroll.site, ipKey);
      return { rule: 'enroll_key', limiter: limiters.enrollKey, key, full: `${keys.ns.enrollKey}:${key}` };
    }
    return { rule: 'enroll_pairing', limiter: limiters.enrollPairing, key: ipKey, full: `${keys.ns.enrollPairing}:${ipKey}` };
  };

  /**
   * Rate-rule keys known to be over their limit, until when. A flood from one
   * key is then refused from memory without a Redis round trip. Only pure
   * rate rules live here: lockouts and blocks must stay liftable via Redis.
   */
  const overLimit = new Map<string, number>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, until] of overLimit) if (until <= now) overLimit.delete(k);
  }, 10_000);
  sweep.unref();

  const admit: Throttle['admit'] = async (route, ip, enroll) => {
    try {
      const r = rateRule(route, enroll, ip);
      const knownUntil = overLimit.get(r.full);
      if (knownUntil !== undefined && knownUntil > Date.now()) {
        metrics.throttle.inc({ rule: r.rule, decision: 'limit' });
        return { ok: false, retryAfterSeconds: seconds(knownUntil - Date.now()), rule: r.rule, key: r.full, kind: 'limit' };
      }
      // One round trip: the rate rule, the IP block and the (site, IP) lockout together.
      const [rate, blockedMs, lockedMs] = await Promise.all([
        r.limiter.consume(r.key).then(
          (res) => ({ ok: true as const, res }),
          (rejection: unknown) => {
            if (rejection instanceof RateLimiterRes) return { ok: false as const, res: rejection };
            throw rejection;
          },
        ),
        activeFor(limiters.block, ip),
        route === 'enroll' && enroll !== null
          ? activeFor(limiters.lockout, keys.siteIp(enroll.site, ip))
          : Promise.resolve(null),
      ]);
      if (blockedMs !== null) {
        metrics.throttle.inc({ rule: 'ip_failures', decision: 'block' });
        return { ok: false, retryAfterSeconds: seconds(blockedMs), rule: 'ip_failures', key: keys.block(ip), kind: 'block' };
      }
      if (lockedMs !== null && enroll !== null) {
        metrics.throttle.inc({ rule: 'consecutive_failures', decision: 'lockout' });
        return {
          ok: false,
          retryAfterSeconds: seconds(lockedMs),
          rule: 'consecutive_failures',
          key: keys.lockout(enroll.site, ip),
          kind: 'lockout',
        };
      }
      if (!rate.ok) {
        // Remember only Redis's verdicts: an outage-time count must not outlive the outage.
        if (redis === null || up) overLimit.set(r.full, Date.now() + rate.res.msBeforeNext);
        metrics.throttle.inc({ rule: r.rule, decision: 'limit' });
        return { ok: false, retryAfterSeconds: seconds(rate.res.msBeforeNext), rule: r.rule, key: r.full, kind: 'limit' };
      }
      metrics.throttle.inc({ rule: r.rule, decision: 'allow' });
      return {
        ok: true,
        limit: { limit: r.limiter.points, remaining: rate.res.remainingPoints, resetSeconds: seconds(rate.res.msBeforeNext) },
      };
    } catch (err) {
      // Both Redis and the insurance limiter failed: refuse rather than fail open.
      logger.log('error', 'throttle error; refusing request', { reason: err instanceof Error ? err.message : 'unknown' });
      metrics.throttle.inc({ rule: 'internal', decision: 'error' });
      return { ok: false, retryAfterSeconds: 1, rule: 'internal', key: '', kind: 'error' };
    }
  };

  /** Consumes one failure; returns true when this failure reached the threshold. */
  const countFailure = async (limiter: RateLimiterAbstract, key: string): Promise<boolean> => {
    try {
      const res = await limiter.consume(key);
      return res.consumedPoints >= limiter.points;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return true;
      throw rejection;
    }
  };

  const recordOutcome: Throttle['recordOutcome'] = async (route, ip, enroll, status) => {
    try {
      if (status >= 200 && status < 300) {
        if (route === 'enroll' && enroll !== null) await limiters.failSite.delete(keys.siteIp(enroll.site, ip));
        return;
      }
      if (status !== 401) return;
      if (route === 'enroll' && enroll !== null) {
        const siteIp = keys.siteIp(enroll.site, ip);
        if (await countFailure(limiters.failSite, siteIp)) {
          await limiters.lockout.block(siteIp, l.lockoutSeconds);
          // Start the next streak from zero once the lockout ends or is lifted.
          await limiters.failSite.delete(siteIp);
          metrics.throttle.inc({ rule: 'consecutive_failures', decision: 'lockout_set' });
          logger.log('warn', 'lockout', {
            key: keys.lockout(enroll.site, ip),
            site_code: enroll.site,
            ip,
            failures: l.lockoutFailures,
            seconds: l.lockoutSeconds,
          });
        }
      }
      // Every public route's 401 counts toward the per-IP cross-site block:
      // guessing poll tokens or enrollment ids is the same abuse as guessing codes.
      if (await countFailure(limiters.failIp, ip)) {
        await limiters.block.block(ip, l.blockSeconds);
        await limiters.failIp.delete(ip);
        metrics.throttle.inc({ rule: 'ip_failures', decision: 'block_set' });
        logger.log('warn', 'block', { key: keys.block(ip), ip, failures: l.blockFailures, seconds: l.blockSeconds });
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
        const client = redis;
        if (client === null || client.status === 'ready') {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          client.off('ready', onReady);
          logger.log('warn', 'redis not reachable at startup: limiting in memory until it is', {});
          resolve();
        }, ms);
        const onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        client.once('ready', onReady);
      }),
    close: async () => {
      clearInterval(sweep);
      if (redis !== null) {
        redis.disconnect();
      }
    },
  };
};
