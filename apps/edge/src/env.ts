import { availableParallelism } from 'node:os';
import { bool, cidrList, defineEnv, int, pin, port, redisFields, redisKeyPrefix, resolveRedisTarget, text, url, type RedisTarget } from '@airlock/config';
import { DEFAULT_KEY_PREFIX } from '@airlock/lockouts';
import * as v from 'valibot';

export { ConfigError } from '@airlock/config';

/** Everything the edge needs to run; built once from the environment (or by tests). */
export interface EdgeConfig {
  host: string;
  port: number;
  upstream: URL;
  /** How the edge checks an `https://` upstream: a CA file and/or a certificate pin. */
  upstreamTls: { caPath: string | null; pin: string | null };
  /** An `edge` operator token: the lockouts and blocks this edge imposes are reported to the api (security.lockout); null: not reported. */
  apiToken: string | null;
  tls: { certPath: string; keyPath: string } | null;
  trustedProxies: string[];
  /** null: in-process counters (single edge only). */
  redisUrl: string | null;
  /** The Redis to use, URL or Sentinel group (REDIS_SENTINELS); null: in-process counters. */
  redis: RedisTarget | null;
  redisPrefix: string;
  metricsHost: string;
  metricsPort: number;
  limits: {
    enrollKeyPerMin: number;
    enrollPairingPerHour: number;
    verifyPerHour: number;
    statusPerMin: number;
    enrollPerMin: number;
    rejectedPerHour: number;
    agentPerHour: number;
    pollFailures: number;
    pollFailureWindowSeconds: number;
    pollBlockSeconds: number;
    ipv6Factor56: number;
    ipv6Factor48: number;
    lockoutFailures: number;
    lockoutFailureWindowSeconds: number;
    lockoutSeconds: number;
    blockFailures: number;
    blockWindowSeconds: number;
    blockSeconds: number;
    maxConnectionsPerIp: number;
  };
  timeouts: {
    headersMs: number;
    requestMs: number;
    keepAliveMs: number;
    connectionsCheckMs: number;
    upstreamMs: number;
    shutdownGraceMs: number;
  };
  /** Requests towards the api: at most `maxInflight` at once, then a short FIFO wait, then 503. */
  upstreamLimits: {
    maxInflight: number;
    queue: number;
    queueMs: number;
  };
  maxHeaderBytes: number;
  maxBodyBytes: number;
  maxRequestsPerSocket: number;
  accessLog: boolean;
  /** Throttle refusals: first per (IP, rule) in full, then one count line per interval; 0 = every one (refusal-log.ts). */
  refusalLogIntervalMs: number;
  /** Slice of the status and verify budgets an edge leases from Redis, in % of the limit; 0 = none (throttle/index.ts). */
  leasePercent: number;
  rateLimitHeaders: boolean;
  /** Known blocks, lockouts and exhausted budgets kept in memory (entries). */
  negativeCacheSize: number;
  /** Worker processes (node:cluster); 1 runs the edge in this process. */
  workers: number;
}

const DAY = 86_400;

/** Every variable the edge reads but the SSH demux's (ssh/config.ts). Contract names first, then the edge's own knobs; defaults are the contract's table. */
export const EdgeEnv = defineEnv(
  'edge',
  {
    EDGE_HOST: v.optional(text(), '0.0.0.0'),
    EDGE_PORT: port(443, { allowZero: true }),
    EDGE_UPSTREAM: v.optional(url(['http', 'https'], { origin: true }), 'http://127.0.0.1:8082'),
    EDGE_UPSTREAM_CA: v.optional(text()),
    // Upper case: upstream-tls.ts compares it with Node's colon-separated upper-case fingerprint.
    EDGE_UPSTREAM_PIN: v.optional(v.pipe(pin(), v.toUpperCase())),
    // Issue 20: an operator token with the `edge` role; lockouts are reported to EDGE_UPSTREAM with it.
    EDGE_API_TOKEN: v.optional(v.pipe(v.string(), v.regex(/^aop_[A-Za-z0-9_-]{43}$/, 'must be an operator token (aop_…) with the edge role'))),
    EDGE_TLS_CERT: v.optional(text()),
    EDGE_TLS_KEY: v.optional(text()),
    EDGE_TRUSTED_PROXIES: v.optional(cidrList(), ''),
    ...redisFields(),
    EDGE_REDIS_PREFIX: redisKeyPrefix(DEFAULT_KEY_PREFIX),
    EDGE_METRICS_HOST: v.optional(text(), '127.0.0.1'),
    EDGE_METRICS_PORT: port(9464, { allowZero: true }),
    EDGE_LIMIT_ENROLL_KEY_PER_MIN: int(60, 1, 1_000_000),
    EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: int(10, 1, 1_000_000),
    EDGE_LIMIT_VERIFY_PER_HOUR: int(600, 1, 1_000_000),
    EDGE_LIMIT_STATUS_PER_MIN: int(1200, 1, 1_000_000),
    EDGE_LIMIT_ENROLL_PER_MIN: int(120, 1, 1_000_000),
    EDGE_LIMIT_REJECTED_PER_HOUR: int(100, 1, 1_000_000),
    EDGE_LIMIT_AGENT_PER_HOUR: int(60, 1, 1_000_000),
    EDGE_POLL_BLOCK_FAILURES: int(100, 1, 1_000_000),
    EDGE_POLL_BLOCK_WINDOW_SECONDS: int(600, 1, DAY),
    EDGE_POLL_BLOCK_SECONDS: int(300, 1, DAY),
    EDGE_IPV6_56_FACTOR: int(4, 1, 65_536),
    EDGE_IPV6_48_FACTOR: int(16, 1, 65_536),
    EDGE_WORKERS: v.optional(
      v.pipe(
        v.string(),
        v.trim(),
        v.regex(/^(?:auto|\d{1,2})$/, 'must be "auto" or a number of workers'),
        v.transform((s) => (s === 'auto' ? availableParallelism() : Number(s))),
        v.minValue(1, 'must be at least 1'),
        v.maxValue(64, 'must be at most 64'),
      ),
      '1',
    ),
    EDGE_NEGATIVE_CACHE_SIZE: int(100_000, 1_000, 10_000_000),
    EDGE_LOCKOUT_FAILURES: int(20, 1, 1_000_000),
    EDGE_LOCKOUT_FAILURE_WINDOW_SECONDS: int(DAY, 1, 365 * DAY),
    EDGE_LOCKOUT_SECONDS: int(900, 1, 365 * DAY),
    EDGE_BLOCK_FAILURES: int(100, 1, 1_000_000),
    EDGE_BLOCK_WINDOW_SECONDS: int(DAY, 1, 365 * DAY),
    EDGE_BLOCK_SECONDS: int(DAY, 1, 365 * DAY),
    EDGE_MAX_CONNECTIONS_PER_IP: int(10, 1, 100_000),
    EDGE_HEADERS_TIMEOUT_MS: int(10_000, 100, 600_000),
    EDGE_REQUEST_TIMEOUT_MS: int(30_000, 100, 600_000),
    EDGE_KEEPALIVE_TIMEOUT_MS: int(5_000, 0, 600_000),
    EDGE_CONNECTIONS_CHECK_MS: int(1_000, 50, 60_000),
    EDGE_UPSTREAM_TIMEOUT_MS: int(15_000, 100, 600_000),
    EDGE_SHUTDOWN_GRACE_MS: int(10_000, 0, 600_000),
    EDGE_UPSTREAM_MAX_INFLIGHT: int(64, 1, 10_000),
    EDGE_UPSTREAM_QUEUE: int(128, 0, 100_000),
    EDGE_UPSTREAM_QUEUE_MS: int(1_000, 1, 600_000),
    EDGE_MAX_HEADER_BYTES: int(8_192, 1_024, 65_536),
    EDGE_MAX_BODY_BYTES: int(16_384, 1, 16_384),
    EDGE_MAX_REQUESTS_PER_SOCKET: int(100, 1, 1_000_000),
    EDGE_ACCESS_LOG: bool('true'),
    EDGE_REFUSAL_LOG_INTERVAL_MS: int(10_000, 0, 3_600_000),
    EDGE_LEASE_PERCENT: int(5, 0, 50),
    EDGE_RATELIMIT_HEADERS: bool('true'),
  },
  (rule) => [
    rule(['EDGE_TLS_CERT', 'EDGE_TLS_KEY'], (o) =>
      (o.EDGE_TLS_CERT === undefined) !== (o.EDGE_TLS_KEY === undefined) && 'EDGE_TLS_CERT and EDGE_TLS_KEY must be set together',
    ),
    rule(['EDGE_UPSTREAM', 'EDGE_UPSTREAM_CA', 'EDGE_UPSTREAM_PIN'], (o) =>
      !o.EDGE_UPSTREAM.startsWith('https://') &&
      (o.EDGE_UPSTREAM_CA !== undefined || o.EDGE_UPSTREAM_PIN !== undefined) &&
      'EDGE_UPSTREAM_CA and EDGE_UPSTREAM_PIN need an https:// EDGE_UPSTREAM',
    ),
    rule(['EDGE_IPV6_48_FACTOR', 'EDGE_IPV6_56_FACTOR'], (o) =>
      o.EDGE_IPV6_48_FACTOR < o.EDGE_IPV6_56_FACTOR && 'EDGE_IPV6_48_FACTOR must be at least EDGE_IPV6_56_FACTOR',
    ),
    rule(['EDGE_HEADERS_TIMEOUT_MS', 'EDGE_REQUEST_TIMEOUT_MS'], (o) =>
      o.EDGE_HEADERS_TIMEOUT_MS > o.EDGE_REQUEST_TIMEOUT_MS && 'EDGE_HEADERS_TIMEOUT_MS must not exceed EDGE_REQUEST_TIMEOUT_MS',
    ),
    rule(['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'], (o) =>
      resolveRedisTarget({ url: o.REDIS_URL, sentinels: o.REDIS_SENTINELS, name: o.REDIS_SENTINEL_NAME }).problems,
    ),
  ],
);

/**
 * Parses the environment once. Throws ConfigError listing every problem, not
 * just the first, so an operator fixes the unit file in one pass.
 *
 * @example
 *   const config = loadConfig(process.env);
 */
export const loadConfig = (env: Record<string, string | undefined>): EdgeConfig => {
  const e = EdgeEnv.parse(env);
  const redis = resolveRedisTarget({ url: e.REDIS_URL, sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME });
  return {
    host: e.EDGE_HOST,
    port: e.EDGE_PORT,
    upstream: new URL(e.EDGE_UPSTREAM),
    upstreamTls: { caPath: e.EDGE_UPSTREAM_CA ?? null, pin: e.EDGE_UPSTREAM_PIN ?? null },
    apiToken: e.EDGE_API_TOKEN ?? null,
    tls:
      e.EDGE_TLS_CERT !== undefined && e.EDGE_TLS_KEY !== undefined
        ? { certPath: e.EDGE_TLS_CERT, keyPath: e.EDGE_TLS_KEY }
        : null,
    trustedProxies: e.EDGE_TRUSTED_PROXIES,
    redisUrl: e.REDIS_URL ?? null,
    redis: redis.target,
    redisPrefix: e.EDGE_REDIS_PREFIX,
    metricsHost: e.EDGE_METRICS_HOST,
    metricsPort: e.EDGE_METRICS_PORT,
    limits: {
      enrollKeyPerMin: e.EDGE_LIMIT_ENROLL_KEY_PER_MIN,
      enrollPairingPerHour: e.EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR,
      verifyPerHour: e.EDGE_LIMIT_VERIFY_PER_HOUR,
      statusPerMin: e.EDGE_LIMIT_STATUS_PER_MIN,
      enrollPerMin: e.EDGE_LIMIT_ENROLL_PER_MIN,
      rejectedPerHour: e.EDGE_LIMIT_REJECTED_PER_HOUR,
      agentPerHour: e.EDGE_LIMIT_AGENT_PER_HOUR,
      pollFailures: e.EDGE_POLL_BLOCK_FAILURES,
      pollFailureWindowSeconds: e.EDGE_POLL_BLOCK_WINDOW_SECONDS,
      pollBlockSeconds: e.EDGE_POLL_BLOCK_SECONDS,
      ipv6Factor56: e.EDGE_IPV6_56_FACTOR,
      ipv6Factor48: e.EDGE_IPV6_48_FACTOR,
      lockoutFailures: e.EDGE_LOCKOUT_FAILURES,
      lockoutFailureWindowSeconds: e.EDGE_LOCKOUT_FAILURE_WINDOW_SECONDS,
      lockoutSeconds: e.EDGE_LOCKOUT_SECONDS,
      blockFailures: e.EDGE_BLOCK_FAILURES,
      blockWindowSeconds: e.EDGE_BLOCK_WINDOW_SECONDS,
      blockSeconds: e.EDGE_BLOCK_SECONDS,
      maxConnectionsPerIp: e.EDGE_MAX_CONNECTIONS_PER_IP,
    },
    timeouts: {
      headersMs: e.EDGE_HEADERS_TIMEOUT_MS,
      requestMs: e.EDGE_REQUEST_TIMEOUT_MS,
      keepAliveMs: e.EDGE_KEEPALIVE_TIMEOUT_MS,
      connectionsCheckMs: e.EDGE_CONNECTIONS_CHECK_MS,
      upstreamMs: e.EDGE_UPSTREAM_TIMEOUT_MS,
      shutdownGraceMs: e.EDGE_SHUTDOWN_GRACE_MS,
    },
    upstreamLimits: {
      maxInflight: e.EDGE_UPSTREAM_MAX_INFLIGHT,
      queue: e.EDGE_UPSTREAM_QUEUE,
      queueMs: e.EDGE_UPSTREAM_QUEUE_MS,
    },
    maxHeaderBytes: e.EDGE_MAX_HEADER_BYTES,
    maxBodyBytes: e.EDGE_MAX_BODY_BYTES,
    maxRequestsPerSocket: e.EDGE_MAX_REQUESTS_PER_SOCKET,
    accessLog: e.EDGE_ACCESS_LOG,
    refusalLogIntervalMs: e.EDGE_REFUSAL_LOG_INTERVAL_MS,
    leasePercent: e.EDGE_LEASE_PERCENT,
    rateLimitHeaders: e.EDGE_RATELIMIT_HEADERS,
    negativeCacheSize: e.EDGE_NEGATIVE_CACHE_SIZE,
    workers: e.EDGE_WORKERS,
  };
};
