import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './env.ts';

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig({});
    expect(c.host).toBe('0.0.0.0');
    expect(c.port).toBe(443);
    expect(c.upstream.origin).toBe('http://127.0.0.1:8082');
    expect(c.tls).toBeNull();
    expect(c.redisUrl).toBeNull();
    expect(c.trustedProxies).toEqual([]);
    expect(c.metricsHost).toBe('127.0.0.1');
    expect(c.limits).toMatchObject({
      enrollKeyPerMin: 60,
      enrollPairingPerHour: 10,
      lockoutFailures: 20,
      lockoutSeconds: 900,
      blockFailures: 100,
      blockSeconds: 86_400,
      verifyPerHour: 600,
      statusPerMin: 1200,
      maxConnectionsPerIp: 10,
    });
    expect(c.timeouts.headersMs).toBe(10_000);
    expect(c.timeouts.requestMs).toBe(30_000);
    expect(c.maxBodyBytes).toBe(16_384);
  });

  it('lists every problem, not just the first', () => {
    try {
      loadConfig({ EDGE_PORT: '70000', EDGE_UPSTREAM: 'http://x/api', REDIS_URL: 'http://r', EDGE_ACCESS_LOG: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['EDGE_PORT', 'EDGE_UPSTREAM', 'REDIS_URL', 'EDGE_ACCESS_LOG']) expect(problems).toContain(name);
    }
  });

  it('requires certificate and key together', () => {
    expect(() => loadConfig({ EDGE_TLS_CERT: '/x.crt' })).toThrow(/EDGE_TLS_CERT and EDGE_TLS_KEY/);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ REDIS_URL: '', EDGE_TRUSTED_PROXIES: '' }).redisUrl).toBeNull();
  });

  it('parses trusted proxies', () => {
    expect(loadConfig({ EDGE_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.1' }).trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.1']);
  });
  it('accepts a Redis Sentinel group instead of REDIS_URL, and refuses both at once', () => {
    const c = loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1:26380', REDIS_SENTINEL_NAME: 'airlock' });
    expect(c.redis).toEqual({ kind: 'sentinel', name: 'airlock', sentinels: [{ host: '127.0.0.1', port: 26379 }, { host: '127.0.0.1', port: 26380 }] });
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'a' })).toThrow(
      /set one, not both/,
    );
    expect(() => loadConfig({ REDIS_SENTINELS: '127.0.0.1:26379' })).toThrow(/REDIS_SENTINEL_NAME: required/);
  });
});
