import { describe, expect, it } from 'vitest';
import { parseSentinels, resolveRedisTarget } from './redis.ts';

describe('Redis target from the environment', () => {
  it('takes REDIS_URL alone, or nothing', () => {
    expect(resolveRedisTarget({ url: 'redis://127.0.0.1:6379' })).toEqual({
      target: { kind: 'url', url: 'redis://127.0.0.1:6379' },
      problems: [],
    });
    expect(resolveRedisTarget({})).toEqual({ target: null, problems: [] });
  });

  it('takes a Sentinel group with its master name', () => {
    expect(resolveRedisTarget({ sentinels: '10.0.0.1:26379, [::1]:26380,sentinel-c.internal:26381', name: 'airlock' })).toEqual({
      target: {
        kind: 'sentinel',
        name: 'airlock',
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '::1', port: 26380 },
          { host: 'sentinel-c.internal', port: 26381 },
        ],
      },
      problems: [],
    });
  });

  it('lists every problem at once', () => {
    expect(resolveRedisTarget({ url: 'redis://x', sentinels: '10.0.0.1', name: 'bad name!' }).problems).toEqual([
      'REDIS_URL and REDIS_SENTINELS: set one, not both',
      'REDIS_SENTINELS: "10.0.0.1" is not host:port',
      'REDIS_SENTINEL_NAME: must be 1-64 characters of A-Za-z0-9._-',
    ]);
    expect(resolveRedisTarget({ sentinels: '10.0.0.1:26379' }).problems).toEqual(['REDIS_SENTINEL_NAME: required with REDIS_SENTINELS']);
    expect(resolveRedisTarget({ name: 'airlock' }).problems).toEqual(['REDIS_SENTINEL_NAME: needs REDIS_SENTINELS']);
    expect(parseSentinels('10.0.0.1:0')).toEqual({ problem: '"10.0.0.1:0" is not host:port' });
    expect(parseSentinels(' , ')).toEqual({ problem: 'must list at least one host:port' });
  });
});
