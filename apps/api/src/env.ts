/**
 * The api's configuration, validated once at startup. Names follow the
 * contract where it names them; the rest are prefixed AIRLOCK_ or API_.
 */
import { isIP, type BlockList } from 'node:net';
import { buildTrustList } from '@airlock/net';
import { resolveRedisTarget, type RedisTarget } from '@airlock/lockouts';
import { Hostname } from '@airlock/schema';
import path from 'node:path';
import * as v from 'valibot';
import { DEFAULT_DATA_DIR } from './data-dir.ts';
import { loadApiTls, type ApiTlsMaterial } from './tls.ts';

const int = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );

/**
 * A lifetime: whole seconds (`86400`) or units, largest first (`24h`, `90m`,
 * `7d`, `1h30m`). Returns seconds, or null when the text is neither.
 */
export const parseDuration = (text: string): number | null => {
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const m = /^(?:(\d{1,5})d)?(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/.exec(text);
  if (!m || text === '') return null;
  const [, d = '0', h = '0', min = '0', sec = '0'] = m;
  return Number(d) * 86400 + Number(h) * 3600 + Number(min) * 60 + Number(sec);
};

const MIN_CERT_TTL_SECONDS = 60;
const MAX_CERT_TTL_SECONDS = 90 * 86400;
// host:port where host is a DNS name, IPv4, or [IPv6]; it lands in sshd options and known_hosts, so no quotes or spaces.
const HOST_PORT = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]):(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;

/** `host:port` (IPv6 in brackets) into its parts. */
const splitHostPort = (s: string): { host: string; port: number } => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

/** A DNS name as the host name schema reads it (RFC 1123 labels, lower-cased). */
const DnsName = (what: string) => v.pipe(v.string(), v.check((s) => v.is(Hostname, s), `must be a DNS name (${what})`), v.toLowerCase());
const flag = v.optional(v.picklist(['0', '1'], 'must be 0 or 1'), '0');

export interface SshEndpointConfig {
  host: string;
  port: number;
  user: string;
  permitOpen: string[];
}

const EnvSchema = v.object({
  DATABASE_URL: v.optional(v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'))),
  // 0 behind a transaction-mode pooler that cannot keep prepared statements (db/client.ts).
  DATABASE_PREPARE: v.optional(v.picklist(['0', '1'], 'must be 0 or 1'), '1'),
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
  // Issue 18: no proxy is trusted unless named (a local process could otherwise pose as the edge).
  API_TRUSTED_PROXIES: v.optional(v.string(), ''),
  // Host header names the api answers to besides loopback names and IP literals (DNS rebinding, issue 18).
  API_ALLOWED_HOSTS: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (s) => s.split(',').map((h) => h.trim()).filter(Boolean).every((h) => v.is(Hostname, h)),
        'must be a comma-separated list of DNS names (no ports, no wildcards)',
      ),
    ),
  ),
  // Optional TLS on the api's own listener (#8.8): PEM files, both or neither.
  API_TLS_CERT: v.optional(v.string()),
  API_TLS_KEY: v.optional(v.string()),
  AIRLOCK_PAIRING_CODE_TTL_SECONDS: v.optional(int(60, 86400), '600'),
  AIRLOCK_CHALLENGE_TTL_SECONDS: v.optional(int(10, 3600), '300'),
  AIRLOCK_APPROVAL_TTL_SECONDS: v.optional(int(60, 30 * 86400), '86400'),
  AIRLOCK_POLL_INTERVAL_SECONDS: v.optional(int(1, 300), '5'),
  AIRLOCK_COLLISION_WINDOW_SECONDS: v.optional(int(0, 365 * 86400), String(7 * 86400)),
  // Quickstart only: create an admin operator on first start and leave its token in a 0600 file.
  AIRLOCK_BOOTSTRAP_ADMIN: v.optional(v.picklist(['0', '1'], 'must be 0 or 1'), '0'),
  // New site enrollment keys expire and wear out by default (#8.11); 0 = no limit.
  AIRLOCK_SITE_KEY_TTL_SECONDS: v.optional(v.pipe(int(0, 366 * 86400), v.check((n) => n === 0 || n >= 60, 'must be 0 (no expiry) or at least 60')), String(30 * 86400)),
  AIRLOCK_SITE_KEY_MAX_USES: v.optional(int(0, 1_000_000), '1000'),
  AIRLOCK_AUDIT_MIN_RETENTION_DAYS: v.optional(int(0, 36500), '90'),
  AIRLOCK_LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), 'info'),
  // v1.1 credentials: Airlock's CA (PEM files; both or neither), extra trusted CAs during a rotation,
  // the SPIFFE trust domain of agents' certificates, and their lifetime.
  AIRLOCK_CA_CERT: v.optional(v.pipe(v.string(), v.minLength(1))),
  AIRLOCK_CA_KEY: v.optional(v.pipe(v.string(), v.minLength(1))),
  AIRLOCK_CA_BUNDLE_EXTRA: v.optional(v.pipe(v.string(), v.minLength(1))),
  AIRLOCK_TRUST_DOMAIN: v.optional(
    v.pipe(v.string(), v.regex(/^[a-z0-9._-]{1,255}$/, 'must be a SPIFFE trust domain: 1-255 characters of a-z 0-9 . _ -')),
    'airlock',
  ),
  AIRLOCK_CERT_TTL: v.optional(
    v.pipe(
      v.string(),
      v.transform(parseDuration),
      v.number('must be seconds (86400) or a duration such as 24h, 90m, 7d, 1h30m'),
      v.minValue(MIN_CERT_TTL_SECONDS, `must be at least ${MIN_CERT_TTL_SECONDS} s`),
      v.maxValue(MAX_CERT_TTL_SECONDS, `must be at most ${MAX_CERT_TTL_SECONDS} s (90d)`),
    ),
    '24h',
  ),
  // Issue 18: certificate names. DNS SANs only under this suffix ({host}.{site}.{suffix}); unset: none.
  AIRLOCK_CERT_DNS_SUFFIX: v.optional(DnsName('e.g. agents.example.internal')),
  // The v1.1 profile's bare host name as DNS SAN and CN (any agent picks any name): off unless asked for.
  AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: flag,
  // EKU serverAuth besides clientAuth: off unless asked for.
  AIRLOCK_CERT_SERVER_AUTH: flag,
  // A site key's use-rate alert: this many uses in one 10-minute bucket (and 10x its trailing average); 0 = off.
  AIRLOCK_SITE_KEY_BURST_USES: v.optional(int(0, 1_000_000), '20'),
  // Console: mark the session cookie Secure. Set to 1 whenever operators reach the api over TLS.
  AIRLOCK_CONSOLE_SECURE_COOKIE: v.optional(v.picklist(['0', '1'], 'must be 0 or 1'), '0'),
  // ---- tunnel endpoint (credentials.ssh) ----
  AIRLOCK_SSH_ENDPOINT: v.optional(v.pipe(v.string(), v.regex(HOST_PORT, 'must be host:port (e.g. oma.example.com:443)'))),
  AIRLOCK_SSH_USER: v.optional(v.pipe(v.string(), v.regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name')), 'airlock'),
  AIRLOCK_SSH_PERMIT_OPEN: v.optional(
    v.pipe(v.string(), v.check((s) => s.split(',').every((e) => HOST_PORT.test(e.trim())), 'must be a comma-separated host:port list')),
  ),
  // Prometheus listener, loopback by default like the edge's; port 0 disables it.
  API_METRICS_HOST: v.optional(v.pipe(v.string(), v.check((h) => isIP(h) !== 0, 'must be an IP address')), '127.0.0.1'),
  API_METRICS_PORT: v.optional(int(0, 65535), '9465'),
});

export interface ApiConfig {
  databaseUrl: string | undefined;
  /** Prepared statements on DATABASE_URL (DATABASE_PREPARE, default on). */
  databasePrepare: boolean;
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
  /** Host header names accepted besides loopback names and IP literals (lower case). */
  allowedHosts: ReadonlySet<string>;
  /** Certificate and key for an https listener; null: plain http. */
  tls: ApiTlsMaterial | null;
  pairingCodeTtlSeconds: number;
  challengeTtlSeconds: number;
  approvalTtlSeconds: number;
  pollIntervalSeconds: number;
  collisionWindowSeconds: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Default lifetime of a new site enrollment key; null: none. */
  siteKeyTtlSeconds: number | null;
  /** Default use limit of a new site enrollment key; null: none. */
  siteKeyMaxUses: number | null;
  /** `audit prune` refuses a cutoff newer than this many days ago. */
  auditMinRetentionDays: number;
  bootstrapAdmin: boolean;
  /** Airlock's CA: the PEM files when given, else created under dataDir/ca (see ca.ts). */
  caCertPath: string | undefined;
  caKeyPath: string | undefined;
  caBundleExtraPath: string | undefined;
  trustDomain: string;
  certTtlSeconds: number;
  /** What agents' certificates are named, and whether they may serve TLS (issue 18). */
  certNames: CertNamingConfig;
  /** Uses of a site key in one 10-minute bucket that raise the burst alert; null: never. */
  siteKeyBurstUses: number | null;
  /** Console session cookie carries `Secure` (the api is reached over TLS). */
  consoleSecureCookie: boolean;
  /** Where agents dial the tunnel; null: no tunnel, `credentials.ssh` is null. */
  sshEndpoint: SshEndpointConfig | null;
  metricsHost: string;
  /** 0: no metrics listener. */
  metricsPort: number;
}

export interface CertNamingConfig {
  /** DNS SANs are `{hostname}.{site}.{dnsSuffix}`; null: no DNS SAN (unless legacyHostname). */
  dnsSuffix: string | null;
  /** v1.1 profile: the bare host name as DNS SAN and CN. Never together with dnsSuffix. */
  legacyHostname: boolean;
  /** EKU serverAuth besides clientAuth. */
  serverAuth: boolean;
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
  if ((o.AIRLOCK_CA_CERT === undefined) !== (o.AIRLOCK_CA_KEY === undefined)) {
    throw new ConfigError(['AIRLOCK_CA_CERT / AIRLOCK_CA_KEY: set both or neither']);
  }
  let tls: ApiTlsMaterial | null = null;
  if ((o.API_TLS_CERT === undefined) !== (o.API_TLS_KEY === undefined)) {
    throw new ConfigError(['API_TLS_CERT / API_TLS_KEY: set both (PEM certificate and key files) or neither']);
  }
  if (o.API_TLS_CERT !== undefined && o.API_TLS_KEY !== undefined) {
    const loaded = loadApiTls(o.API_TLS_CERT, o.API_TLS_KEY);
    if (!loaded.material) throw new ConfigError(loaded.problems);
    tls = loaded.material;
  }
  if (o.AIRLOCK_CERT_DNS_SUFFIX !== undefined && o.AIRLOCK_CERT_DNS_LEGACY_HOSTNAME === '1') {
    throw new ConfigError(['AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: cannot be combined with AIRLOCK_CERT_DNS_SUFFIX (choose one naming)']);
  }
  // No list would mean no permitopen option at all, which sshd reads as "forward anywhere".
  if (o.AIRLOCK_SSH_ENDPOINT && !o.AIRLOCK_SSH_PERMIT_OPEN) {
    throw new ConfigError(['AIRLOCK_SSH_PERMIT_OPEN: is required with AIRLOCK_SSH_ENDPOINT (the host:port list agents may forward to)']);
  }
  return {
    databaseUrl: o.DATABASE_URL,
    databasePrepare: o.DATABASE_PREPARE === '1',
    redisUrl: o.REDIS_URL,
    redis: redis.target,
    redisPrefix: o.EDGE_REDIS_PREFIX,
    dataDir: path.resolve(o.AIRLOCK_DATA_DIR),
    secret: o.AIRLOCK_SECRET,
    host: o.API_HOST,
    port: o.API_PORT,
    trustedProxies: parseCidrList(o.API_TRUSTED_PROXIES, 'API_TRUSTED_PROXIES'),
    trustedProxiesText: o.API_TRUSTED_PROXIES,
    allowedHosts: new Set((o.API_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
    tls,
    pairingCodeTtlSeconds: o.AIRLOCK_PAIRING_CODE_TTL_SECONDS,
    challengeTtlSeconds: o.AIRLOCK_CHALLENGE_TTL_SECONDS,
    approvalTtlSeconds: o.AIRLOCK_APPROVAL_TTL_SECONDS,
    pollIntervalSeconds: o.AIRLOCK_POLL_INTERVAL_SECONDS,
    collisionWindowSeconds: o.AIRLOCK_COLLISION_WINDOW_SECONDS,
    logLevel: o.AIRLOCK_LOG_LEVEL,
    auditMinRetentionDays: o.AIRLOCK_AUDIT_MIN_RETENTION_DAYS,
    siteKeyTtlSeconds: o.AIRLOCK_SITE_KEY_TTL_SECONDS === 0 ? null : o.AIRLOCK_SITE_KEY_TTL_SECONDS,
    siteKeyMaxUses: o.AIRLOCK_SITE_KEY_MAX_USES === 0 ? null : o.AIRLOCK_SITE_KEY_MAX_USES,
    bootstrapAdmin: o.AIRLOCK_BOOTSTRAP_ADMIN === '1',
    caCertPath: o.AIRLOCK_CA_CERT,
    caKeyPath: o.AIRLOCK_CA_KEY,
    caBundleExtraPath: o.AIRLOCK_CA_BUNDLE_EXTRA,
    trustDomain: o.AIRLOCK_TRUST_DOMAIN,
    certTtlSeconds: o.AIRLOCK_CERT_TTL,
    certNames: {
      dnsSuffix: o.AIRLOCK_CERT_DNS_SUFFIX ?? null,
      legacyHostname: o.AIRLOCK_CERT_DNS_LEGACY_HOSTNAME === '1',
      serverAuth: o.AIRLOCK_CERT_SERVER_AUTH === '1',
    },
    siteKeyBurstUses: o.AIRLOCK_SITE_KEY_BURST_USES === 0 ? null : o.AIRLOCK_SITE_KEY_BURST_USES,
    // An api serving TLS itself always marks the console cookie Secure.
    consoleSecureCookie: o.AIRLOCK_CONSOLE_SECURE_COOKIE === '1' || tls !== null,
    sshEndpoint: o.AIRLOCK_SSH_ENDPOINT
      ? {
          ...splitHostPort(o.AIRLOCK_SSH_ENDPOINT),
          user: o.AIRLOCK_SSH_USER,
          permitOpen: (o.AIRLOCK_SSH_PERMIT_OPEN ?? '').split(',').map((e) => e.trim()).filter(Boolean),
        }
      : null,
    metricsHost: o.API_METRICS_HOST,
    metricsPort: o.API_METRICS_PORT,
  };
};
