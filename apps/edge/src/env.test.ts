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

describe('issue #8 and #12 settings', () => {
  it('defaults the new limits to the contract and the issue', () => {
    const c = loadConfig({});
    expect(c.limits).toMatchObject({
      enrollPerMin: 120,
      rejectedPerHour: 100,
      agentPerHour: 60,
      pollFailures: 100,
      pollFailureWindowSeconds: 600,
      pollBlockSeconds: 300,
      ipv6Factor56: 4,
      ipv6Factor48: 16,
    });
    expect(c.upstreamTls).toEqual({ caPath: null, pin: null });
    expect(c.workers).toBe(1);
    expect(c.negativeCacheSize).toBe(100_000);
  });

  it('normalises an upstream pin and refuses a malformed one', () => {
    const hex = 'ab'.repeat(32);
    const colons = hex.match(/../g)?.join(':') ?? '';
    const c = loadConfig({ EDGE_UPSTREAM: 'https://api.internal:8443', EDGE_UPSTREAM_PIN: `sha256:${colons}` });
    expect(c.upstreamTls.pin).toBe(hex.toUpperCase());
    expect(() => loadConfig({ EDGE_UPSTREAM: 'https://api.internal:8443', EDGE_UPSTREAM_PIN: 'abc' })).toThrow(ConfigError);
  });

  it('refuses a CA or pin for a plain-HTTP upstream', () => {
    expect(() => loadConfig({ EDGE_UPSTREAM_CA: '/etc/airlock/api-ca.pem' })).toThrow(/need an https:\/\/ EDGE_UPSTREAM/);
  });

  it('reads EDGE_WORKERS as a count or auto', () => {
    expect(loadConfig({ EDGE_WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ EDGE_WORKERS: 'auto' }).workers).toBeGreaterThanOrEqual(1);
    expect(() => loadConfig({ EDGE_WORKERS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ EDGE_WORKERS: 'many' })).toThrow(ConfigError);
  });
});

describe('issue #13 settings', () => {
  it('bounds requests towards the api by default and reads the three knobs', () => {
    expect(loadConfig({}).upstreamLimits).toEqual({ maxInflight: 64, queue: 128, queueMs: 1_000 });
    expect(
      loadConfig({ EDGE_UPSTREAM_MAX_INFLIGHT: '8', EDGE_UPSTREAM_QUEUE: '0', EDGE_UPSTREAM_QUEUE_MS: '250' }).upstreamLimits,
    ).toEqual({ maxInflight: 8, queue: 0, queueMs: 250 });
  });

  it('refuses a cap of zero, a negative queue and a zero wait, all at once', () => {
    try {
      loadConfig({ EDGE_UPSTREAM_MAX_INFLIGHT: '0', EDGE_UPSTREAM_QUEUE: '-1', EDGE_UPSTREAM_QUEUE_MS: '0' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['EDGE_UPSTREAM_MAX_INFLIGHT', 'EDGE_UPSTREAM_QUEUE', 'EDGE_UPSTREAM_QUEUE_MS']) expect(problems).toContain(name);
    }
  });
});
