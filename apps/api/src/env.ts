/**
 * The api's configuration, validated once at startup. Names follow the
 * contract where it names them; the rest are prefixed AIRLOCK_ or API_.
 */
import { isIP, type BlockList } from 'node:net';
import { buildTrustList } from '@airlock/net';
import { resolveRedisTarget, type RedisTarget } from '@airlock/lockouts';
import path from 'node:path';
import * as v from 'valibot';
import { DEFAULT_DATA_DIR } from './data-dir.ts';

const int = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );

const EnvSchema = v.object({
  DATABASE_URL: v.optional(v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'))),
  REDIS_URL: v.optional(v.pipe(v.string(), v.regex(/^rediss?:\/\//, 'must be a redis:// URL'))),
  // Alternative to REDIS_URL: the edge's Sentinel group; checked in resolveRedisTarget.
  REDIS_SENTINELS: v.optional(v.string()),
  REDIS_SENTINEL_NAME: v.optional(v.string()),
  // The edge's key prefix, so operator commands find the edge's lockouts.
  EDGE_REDIS_PREFIX: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:._-]{1,64}$/, 'must be 1-64 characters of A-Za-z0-9:._-'))),
  AIRLOCK_DATA_DIR: v.optional(v.string(), DEFAULT_DATA_DIR),
  AIRLOCK_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters'))),
  API_HOST: v.optional(v.pipe(v.string(), v.check((h) => isIP(h) !== 0, 'must be an IP address')), '127.0.0.1'),
  API_PORT: v.optional(int(0, 65535), '8082'),
  API_TRUSTED_PROXIES: v.optional(v.string(), '127.0.0.0/8,::1/128'),
  AIRLOCK_PAIRING_CODE_TTL_SECONDS: v.optional(int(60, 86400), '600'),
  AIRLOCK_CHALLENGE_TTL_SECONDS: v.optional(int(10, 3600), '300'),
  AIRLOCK_APPROVAL_TTL_SECONDS: v.optional(int(60, 30 * 86400), '86400'),
  AIRLOCK_POLL_INTERVAL_SECONDS: v.optional(int(1, 300), '5'),
  AIRLOCK_COLLISION_WINDOW_SECONDS: v.optional(int(0, 365 * 86400), String(7 * 86400)),
  // Quickstart only: create an admin operator on first start and leave its token in a 0600 file.
  AIRLOCK_BOOTSTRAP_ADMIN: v.optional(v.picklist(['0', '1'], 'must be 0 or 1'), '0'),
  AIRLOCK_LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), 'info'),
});

export interface ApiConfig {
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** The edge's Redis, URL or Sentinel group; null: lockout commands answer 503. */
  redis: RedisTarget | null;
  redisPrefix: string | undefined;
  dataDir: string;
  secret: string | undefined;
  host: string;
  port: number;
  trustedProxies: BlockList;
  trustedProxiesText: string;
  pairingCodeTtlSeconds: number;
  challengeTtlSeconds: number;
  approvalTtlSeconds: number;
  pollIntervalSeconds: number;
  collisionWindowSeconds: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  bootstrapAdmin: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses comma-separated CIDRs (or bare addresses) into a BlockList. */
const parseCidrList = (text: string, name: string): BlockList => {
  try {
    return buildTrustList(text.split(',').map((s) => s.trim()).filter(Boolean));
  } catch (err) {
    throw new ConfigError([`${name}: ${err instanceof Error ? err.message : 'invalid'}`]);
  }
};

export const loadApiConfig = (env: NodeJS.ProcessEnv = process.env): ApiConfig => {
  const input = Object.fromEntries(
    Object.keys(EnvSchema.entries).flatMap((k) => (env[k] !== undefined && env[k] !== '' ? [[k, env[k]]] : [])),
  );
  const parsed = v.safeParse(EnvSchema, input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.issues.map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '?'}: ${i.message}`),
    );
  }
  const o = parsed.output;
  const redis = resolveRedisTarget({ url: o.REDIS_URL, sentinels: o.REDIS_SENTINELS, name: o.REDIS_SENTINEL_NAME });
  if (redis.problems.length > 0) throw new ConfigError(redis.problems);
  return {
    databaseUrl: o.DATABASE_URL,
    redisUrl: o.REDIS_URL,
    redis: redis.target,
    redisPrefix: o.EDGE_REDIS_PREFIX,
    dataDir: path.resolve(o.AIRLOCK_DATA_DIR),
    secret: o.AIRLOCK_SECRET,
    host: o.API_HOST,
    port: o.API_PORT,
    trustedProxies: parseCidrList(o.API_TRUSTED_PROXIES, 'API_TRUSTED_PROXIES'),
    trustedProxiesText: o.API_TRUSTED_PROXIES,
    pairingCodeTtlSeconds: o.AIRLOCK_PAIRING_CODE_TTL_SECONDS,
    challengeTtlSeconds: o.AIRLOCK_CHALLENGE_TTL_SECONDS,
    approvalTtlSeconds: o.AIRLOCK_APPROVAL_TTL_SECONDS,
    pollIntervalSeconds: o.AIRLOCK_POLL_INTERVAL_SECONDS,
    collisionWindowSeconds: o.AIRLOCK_COLLISION_WINDOW_SECONDS,
    logLevel: o.AIRLOCK_LOG_LEVEL,
    bootstrapAdmin: o.AIRLOCK_BOOTSTRAP_ADMIN === '1',
  };
};
