/**
 * The edge's lockouts and blocks, held in Redis. Key names come from the
 * shared @airlock/lockouts package, so the edge and this api cannot disagree.
 */
import { clearLockout, createRedisClient, listLockouts, type ActiveLockout, type RedisTarget } from '@airlock/lockouts';

export interface LockoutStore {
  list(): Promise<ActiveLockout[]>;
  clear(key: string): Promise<boolean>;
  close(): Promise<void>;
}

export const connectLockoutStore = (target: RedisTarget, prefix: string | undefined): LockoutStore => {
  // Fail fast: an operator waiting on a dead Redis learns so in a second, not a minute.
  const redis = createRedisClient(target, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000 });
  redis.on('error', () => {});
  const opts = prefix ? { prefix } : {};
  return {
    list: () => listLockouts(redis, opts),
    clear: (key) => clearLockout(redis, key, opts),
    close: async () => {
      redis.disconnect();
    },
  };
};
