import { availableParallelism } from 'node:os';
import * as v from 'valibot';
import { DEFAULT_KEY_PREFIX, resolveRedisTarget, type RedisTarget } from '@airlock/lockouts';
import { buildTrustList } from '@airlock/net';

/** Everything the edge needs to run; built once from the environment (or by tests). */
export interface EdgeConfig {
  host: string;
  port: number;
  upstream: URL;
  /** How the edge checks an `https://` upstream: a CA file and/or a certificate pin. */
  upstreamTls: { caPath: string | null; pin: string | null };
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
  rateLimitHeaders: boolean;
  /** Known blocks, lockouts and exhausted budgets kept in memory (entries). */
  negativeCacheSize: number;
  /** Worker processes (node:cluster); 1 runs the edge in this process. */
  workers: number;
}

/** An optional whole-number setting in [min, max]; `tooBig` replaces the default message above max. */
export const int = (fallback: number, min: number, max: number, tooBig = `must be at most ${max}`) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+$/, 'must be a whole number'),
      v.transform(Number),
      v.minValue(min, `must be at least ${min}`),
      v.maxValue(max, tooBig),
    ),
    String(fallback),
  );

const bool = (fallback: boolean) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.picklist(['true', 'false', '1', '0'], 'must be true or false'),
      v.transform((s) => s === 'true' || s === '1'),
    ),
    String(fallback),
  );

const DAY = 86_400;

/** Contract names first, then the edge's own knobs. Defaults are the contract's table. */
const EnvSchema = v.object({
  EDGE_HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), '0.0.0.0'),
  EDGE_PORT: int(443, 0, 65_535),
  EDGE_UPSTREAM: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.url('must be a URL'),
      v.check((s) => /^https?:\/\/[^/?#]+\/?$/.test(s), 'must be an http(s) origin without path or query'),
    ),
    'http://127.0.0.1:8082',
  ),
  EDGE_UPSTREAM_CA: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1))),
  EDGE_UPSTREAM_PIN: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.transform((s) => s.replace(/^sha256:/i, '').replace(/:/g, '').toUpperCase()),
      v.regex(/^[0-9A-F]{64}$/, 'must be the SHA-256 of the certificate in hex (colons allowed)'),
    ),
  ),
  EDGE_TLS_CERT: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1))),
  EDGE_TLS_KEY: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1))),
  EDGE_TRUSTED_PROXIES: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0)),
      v.check((list) => {
        try {
          buildTrustList(list);
          return true;
        } catch {
          return false;
        }
      }, 'must be comma-separated IP addresses or CIDRs'),
    ),
    '',
  ),
  REDIS_URL: v.optional(v.pipe(v.string(), v.trim(), v.regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'))),
  // Alternative to REDIS_URL: a Sentinel group; checked in resolveRedisTarget.
  REDIS_SENTINELS: v.optional(v.pipe(v.string(), v.trim())),
  REDIS_SENTINEL_NAME: v.optional(v.pipe(v.string(), v.trim())),
  EDGE_REDIS_PREFIX: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*:$/, 'must be like "airlock:edge:"')),
    DEFAULT_KEY_PREFIX,
  ),
  EDGE_METRICS_HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), '127.0.0.1'),
  EDGE_METRICS_PORT: int(9464, 0, 65_535),
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
  EDGE_ACCESS_LOG: bool(true),
  EDGE_RATELIMIT_HEADERS: bool(true),
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid edge configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment once. Throws ConfigError listing every problem, not
 * just the first, so an operator fixes the unit file in one pass.
 *
 * @example
 *   const config = loadConfig(process.env);
 */
export const loadConfig = (env: Record<string, string | undefined>): EdgeConfig => {
  // Empty strings in unit files mean "unset", as in most shells' `VAR=`.
  const present = Object.fromEntries(Object.entries(env).filter(([, val]) => val !== undefined && val !== ''));
  const parsed = v.safeParse(EnvSchema, present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.issues.map((issue) => `${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`),
    );
  }
  const e = parsed.output;
  const problems: string[] = [];
  if ((e.EDGE_TLS_CERT === undefined) !== (e.EDGE_TLS_KEY === undefined)) {
    problems.push('EDGE_TLS_CERT and EDGE_TLS_KEY must be set together');
  }
  const upstreamIsTls = e.EDGE_UPSTREAM.startsWith('https://');
  if (!upstreamIsTls && (e.EDGE_UPSTREAM_CA !== undefined || e.EDGE_UPSTREAM_PIN !== undefined)) {
    problems.push('EDGE_UPSTREAM_CA and EDGE_UPSTREAM_PIN need an https:// EDGE_UPSTREAM');
  }
  if (e.EDGE_IPV6_48_FACTOR < e.EDGE_IPV6_56_FACTOR) {
    problems.push('EDGE_IPV6_48_FACTOR must be at least EDGE_IPV6_56_FACTOR');
  }
  if (e.EDGE_HEADERS_TIMEOUT_MS > e.EDGE_REQUEST_TIMEOUT_MS) {
    problems.push('EDGE_HEADERS_TIMEOUT_MS must not exceed EDGE_REQUEST_TIMEOUT_MS');
  }
  const redis = resolveRedisTarget({ url: e.REDIS_URL, sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME });
  problems.push(...redis.problems);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    host: e.EDGE_HOST,
    port: e.EDGE_PORT,
    upstream: new URL(e.EDGE_UPSTREAM),
    upstreamTls: { caPath: e.EDGE_UPSTREAM_CA ?? null, pin: e.EDGE_UPSTREAM_PIN ?? null },
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
    rateLimitHeaders: e.EDGE_RATELIMIT_HEADERS,
    negativeCacheSize: e.EDGE_NEGATIVE_CACHE_SIZE,
    workers: e.EDGE_WORKERS,
  };
};
