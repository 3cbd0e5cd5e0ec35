/**
 * The one place a Redis client is built, for the edge's throttle, the api's
 * lockout admin and the tunnel's peer lookups alike: either one server (`REDIS_URL`) or a Sentinel
 * group (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`), where ioredis asks the
 * sentinels for the current primary and follows a failover by itself.
 */
import type { RedisTarget } from '@airlock/config';
import { Redis, type RedisOptions } from 'ioredis';

// What to connect to is read by @airlock/config (one parser of host:port and of the three variables).
export { parseSentinels, resolveRedisTarget, type RedisTarget, type SentinelAddress } from '@airlock/config';

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
 * The recipe for a process that must not wait on Redis (the edge's request
 * path, the tunnel's peer lookups): commands fail at once while disconnected,
 * so the caller's fallback answers instead of requests queueing behind a
 * dead Redis, and the client reconnects for ever, quickly at first.
 *
 * @example
 *   const redis = createFailFastRedisClient({ kind: 'url', url: 'redis://127.0.0.1:6379' });
 */
export const createFailFastRedisClient = (target: RedisTarget): Redis =>
  createRedisClient(target, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 1_000,
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    // Concurrent requests' scripts share one write: fewer syscalls under load.
    enableAutoPipelining: true,
  });
