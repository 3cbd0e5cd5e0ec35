import type { Redis } from 'ioredis';
import { createRedisClient as createSharedRedisClient, type RedisTarget } from '@airlock/lockouts';

/**
 * The one place the edge makes its Redis client: one server (REDIS_URL) or a
 * Sentinel group (REDIS_SENTINELS), built by @airlock/lockouts. Commands fail at once while disconnected, so the
 * in-memory fallback answers instead of requests queueing behind a dead Redis.
 *
 * @example
 *   const redis = createRedisClient({ kind: 'url', url: 'redis://127.0.0.1:6379' });
 */
export const createRedisClient = (target: RedisTarget): Redis =>
  createSharedRedisClient(target, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 1_000,
    // Reconnect forever, quickly at first, so limits move back to Redis soon.
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    // Concurrent requests' scripts share one write: fewer syscalls under load.
    enableAutoPipelining: true,
  });
