/**
 * The one place a Redis client is built, for the edge's throttle and the
 * api's lockout admin alike: either one server (`REDIS_URL`) or a Sentinel
 * group (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`), where ioredis asks the
 * sentinels for the current primary and follows a failover by itself.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface SentinelAddress {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'url'; url: string }
  | { kind: 'sentinel'; sentinels: SentinelAddress[]; name: string };

/**
 * Parses `host:port,host:port` (IPv6 as `[::1]:26379`). Returns the list, or
 * a readable problem for the env validators.
 *
 * @example
 *   parseSentinels('10.0.0.1:26379,10.0.0.2:26379'); // [{ host: '10.0.0.1', port: 26379 }, …]
 */
export const parseSentinels = (text: string): SentinelAddress[] | { problem: string } => {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) return { problem: 'must list at least one host:port' };
  const out: SentinelAddress[] = [];
  for (const item of items) {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(item);
    const host = m?.[1] ?? m?.[2];
    const port = Number(m?.[3]);
    if (!m || host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
      return { problem: `"${item.slice(0, 64)}" is not host:port` };
    }
    out.push({ host, port });
  }
  return out;
};

/** A Sentinel master name as redis-sentinel accepts it. */
export const SENTINEL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Builds the client. `options` are the caller's timeouts and queueing
 * policy; for Sentinel they apply to the connection to the primary.
 *
 * @example
 *   const redis = createRedisClient({ kind: 'sentinel', sentinels, name: 'airlock' }, { enableOfflineQueue: false });
 */
export const createRedisClient = (target: RedisTarget, options: RedisOptions = {}): Redis => {
  if (target.kind === 'url') return new Redis(target.url, options);
  return restartWhenEnded(new Redis({
    ...options,
    sentinels: target.sentinels,
    name: target.name,
    role: 'master',
    // Reconnect at once when a sentinel announces +switch-master, instead of
    // waiting for the dead primary's socket to time out.
    failoverDetector: true,
    // Keep asking the sentinels while none answers (a sentinel restart).
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 2_000),
    sentinelMaxConnections: 3,
    connectTimeout: options.connectTimeout ?? 1_000,
  }));
};

/** How long an ended Sentinel client waits before it connects again. */
export const SENTINEL_RESTART_MS = 1_000;

/**
 * ioredis ends a client for good (status "end", every command refused) when
 * its connector's connect() fails, and in Sentinel mode one way it fails is
 * no outage at all: the failover detector hears `+switch-master` and closes
 * the connector while a reconnect is still asking a sentinel for the
 * primary ("Connection is closed"). That is exactly what happens when a
 * primary dies and the replica is promoted, so now and then one edge out of
 * several kept counting in memory after a failover, for ever. A Sentinel
 * client that ends without its owner closing it (`disconnect()`) connects
 * again; the owner's own close is respected.
 */
const restartWhenEnded = (redis: Redis): Redis => {
  let closedByOwner = false;
  const disconnect = redis.disconnect.bind(redis);
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) closedByOwner = true;
    disconnect(reconnect);
  };
  // The edge's lift subscriber is a duplicate: it needs the same care.
  const duplicate = redis.duplicate.bind(redis);
  redis.duplicate = (override) => restartWhenEnded(duplicate(override));
  redis.on('end', () => {
    if (closedByOwner) return;
    setTimeout(() => {
      if (closedByOwner || redis.status !== 'end') return;
      // A failure here ends the client again, and this runs again.
      redis.connect().catch(() => undefined);
    }, SENTINEL_RESTART_MS).unref();
  });
  return redis;
};

/**
 * Picks the Redis target from the three environment values, with every
 * problem listed for the app's fail-fast config error. `url` is assumed
 * already checked as a redis:// URL by the app's schema.
 *
 * @example
 *   resolveRedisTarget({ sentinels: '127.0.0.1:26379', name: 'airlock' });
 *   // { target: { kind: 'sentinel', … }, problems: [] }
 */
export const resolveRedisTarget = (env: {
  url?: string | undefined;
  sentinels?: string | undefined;
  name?: string | undefined;
}): { target: RedisTarget | null; problems: string[] } => {
  const problems: string[] = [];
  if (env.sentinels === undefined) {
    if (env.name !== undefined) problems.push('REDIS_SENTINEL_NAME: needs REDIS_SENTINELS');
    return { target: env.url === undefined ? null : { kind: 'url', url: env.url }, problems };
  }
  if (env.url !== undefined) problems.push('REDIS_URL and REDIS_SENTINELS: set one, not both');
  const parsed = parseSentinels(env.sentinels);
  if (!Array.isArray(parsed)) problems.push(`REDIS_SENTINELS: ${parsed.problem}`);
  if (env.name === undefined) problems.push('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS');
  else if (!SENTINEL_NAME.test(env.name)) problems.push('REDIS_SENTINEL_NAME: must be 1-64 characters of A-Za-z0-9._-');
  if (problems.length > 0 || !Array.isArray(parsed) || env.name === undefined) return { target: null, problems };
  return { target: { kind: 'sentinel', sentinels: parsed, name: env.name }, problems };
};
