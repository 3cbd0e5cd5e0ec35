/**
 * The api's configuration, validated once at startup (@airlock/config).
 * Names follow the contract where it names them; the rest are prefixed
 * AIRLOCK_ or API_.
 */
import type { BlockList } from 'node:net';
import {
  bool,
  cidrList,
  ConfigError,
  defineEnv,
  duration,
  hostPort,
  hostPortList,
  int,
  integer,
  ipAddress,
  port,
  postgresUrl,
  redisFields,
  redisKeyPrefix,
  resolveRedisTarget,
  unixUser,
  type RedisTarget,
} from '@airlock/config';
import { DEFAULT_KEY_PREFIX } from '@airlock/lockouts';
import { buildTrustList } from '@airlock/net';
import { Hostname } from '@airlock/schema';
import path from 'node:path';
import * as v from 'valibot';
import { DEFAULT_DATA_DIR } from './data-dir.ts';
import { loadApiTls, type ApiTlsMaterial } from './tls.ts';

export { ConfigError, parseDuration } from '@airlock/config';

const MIN_CERT_TTL_SECONDS = 60;
const MAX_CERT_TTL_SECONDS = 90 * 86400;

/** A DNS name as the host name schema reads it (RFC 1123 labels, lower-cased). */
const DnsName = (what: string) => v.pipe(v.string(), v.check((s) => v.is(Hostname, s), `must be a DNS name (${what})`), v.toLowerCase());

export interface SshEndpointConfig {
  host: string;
  port: number;
  user: string;
  permitOpen: string[];
  /** Issue 21: where each agent's -R leads on the appliance (`host:port`); null: no reverse forward. */
  remoteTarget: string | null;
  /** The ports agents' -R may listen on, on the endpoint's loopback (inclusive). */
  remotePorts: { first: number; last: number };
}

/** `first-last` (inclusive), unprivileged ports only: an agent's -R listens as the tunnel account. */
const portRange = () =>
  v.pipe(
    v.string(),
    v.trim(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const m = /^(\d{4,5})-(\d{4,5})$/.exec(dataset.value);
      const first = Number(m?.[1]);
      const last = Number(m?.[2]);
      if (!m || first < 1024 || last > 65535 || first > last) {
        addIssue({ message: 'must be a port range FIRST-LAST within 1024-65535 (e.g. 20000-29999)' });
        return NEVER;
      }
      return { first, last };
    }),
  );

/** Every variable the api reads; docs/configuration.md's api table is checked against it. */
export const ApiEnv = defineEnv(
  'api',
  {
    DATABASE_URL: v.optional(postgresUrl()),
    // 0 behind a transaction-mode pooler that cannot keep prepared statements (db/client.ts).
    DATABASE_PREPARE: bool('1'),
    // The edge's Redis (URL or Sentinel group) and key prefix, so operator commands find the edge's lockouts.
    ...redisFields(),
    EDGE_REDIS_PREFIX: redisKeyPrefix(DEFAULT_KEY_PREFIX),
    AIRLOCK_DATA_DIR: v.optional(v.string(), DEFAULT_DATA_DIR),
    // Issue 23: the agent bundle installers carry; default apps/agent/dist/main.js of the checkout (`pnpm build`).
    AIRLOCK_AGENT_BUNDLE: v.optional(v.pipe(v.string(), v.minLength(1))),
    AIRLOCK_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters'))),
    API_HOST: v.optional(ipAddress(), '127.0.0.1'),
    API_PORT: port(8082, { allowZero: true }),
    // Issue 18: no proxy is trusted unless named (a local process could otherwise pose as the edge).
    API_TRUSTED_PROXIES: v.optional(cidrList(), ''),
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
    AIRLOCK_PAIRING_CODE_TTL_SECONDS: int(600, 60, 86400),
    AIRLOCK_CHALLENGE_TTL_SECONDS: int(300, 10, 3600),
    AIRLOCK_APPROVAL_TTL_SECONDS: int(86400, 60, 30 * 86400),
    // Issue 22: how often waiting enrollments past their deadline are marked expired (0: never).
    AIRLOCK_EXPIRY_SWEEP_SECONDS: int(60, 0, 86400),
    AIRLOCK_POLL_INTERVAL_SECONDS: int(5, 1, 300),
    AIRLOCK_COLLISION_WINDOW_SECONDS: int(7 * 86400, 0, 365 * 86400),
    // Quickstart only: create an admin operator on first start and leave its token in a 0600 file.
    AIRLOCK_BOOTSTRAP_ADMIN: bool('0'),
    // New site enrollment keys expire and wear out by default (#8.11); 0 = no limit.
    AIRLOCK_SITE_KEY_TTL_SECONDS: v.optional(
      v.pipe(integer(0, 366 * 86400), v.check((n) => n === 0 || n >= 60, 'must be 0 (no expiry) or at least 60')),
      String(30 * 86400),
    ),
    AIRLOCK_SITE_KEY_MAX_USES: int(1000, 0, 1_000_000),
    AIRLOCK_AUDIT_MIN_RETENTION_DAYS: int(90, 0, 36500),
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
    AIRLOCK_CERT_TTL: v.optional(duration(MIN_CERT_TTL_SECONDS, MAX_CERT_TTL_SECONDS, '90d'), '24h'),
    // Issue 18: certificate names. DNS SANs only under this suffix ({host}.{site}.{suffix}); unset: none.
    AIRLOCK_CERT_DNS_SUFFIX: v.optional(DnsName('e.g. agents.example.internal')),
    // The v1.1 profile's bare host name as DNS SAN and CN (any agent picks any name): off unless asked for.
    AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: bool('0'),
    // EKU serverAuth besides clientAuth: off unless asked for.
    AIRLOCK_CERT_SERVER_AUTH: bool('0'),
    // A site key's use-rate alert: this many uses in one 10-minute bucket (and 10x its trailing average); 0 = off.
    AIRLOCK_SITE_KEY_BURST_USES: int(20, 0, 1_000_000),
    // Console: mark the session cookie Secure. Set to 1 whenever operators reach the api over TLS.
    AIRLOCK_CONSOLE_SECURE_COOKIE: bool('0'),
    // ---- tunnel endpoint (credentials.ssh) ----
    AIRLOCK_SSH_ENDPOINT: v.optional(hostPort('oma.example.com:443')),
    AIRLOCK_SSH_USER: v.optional(unixUser(), 'airlock'),
    AIRLOCK_SSH_PERMIT_OPEN: v.optional(hostPortList('127.0.0.1:10809')),
    // ---- alerts: webhook delivery (docs/alerts.md) ----
    // 0: this replica delivers nothing (another replica does; events still wait in the outbox).
    AIRLOCK_WEBHOOK_WORKER: bool('1'),
    // First retry after about this long; each next one waits 4x longer, at most 6 h. Tests shorten it.
    AIRLOCK_WEBHOOK_RETRY_BASE_MS: int(5000, 10, 60_000),
    AIRLOCK_WEBHOOK_RETRY_WINDOW_SECONDS: int(86400, 1, 30 * 86400),
    AIRLOCK_WEBHOOK_DISABLE_AFTER_SECONDS: int(5 * 86400, 1, 365 * 86400),
    AIRLOCK_WEBHOOK_TIMEOUT_MS: int(10_000, 100, 60_000),
    AIRLOCK_WEBHOOK_POLL_MS: int(1000, 10, 60_000),
    AIRLOCK_WEBHOOK_CONCURRENCY: int(4, 1, 64),
    // Issue 21: each active agent's reverse forward (-R) to this host:port on the appliance; unset: none.
    AIRLOCK_SSH_REMOTE_TARGET: v.optional(hostPort('127.0.0.1:8081')),
    AIRLOCK_SSH_REMOTE_PORTS: v.optional(portRange(), '20000-29999'),
    // Prometheus listener, loopback by default like the edge's; port 0 disables it.
    API_METRICS_HOST: v.optional(ipAddress(), '127.0.0.1'),
    API_METRICS_PORT: port(9465, { allowZero: true }),
  },
  (rule) => [
    rule(['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'], (o) =>
      resolveRedisTarget({ url: o.REDIS_URL, sentinels: o.REDIS_SENTINELS, name: o.REDIS_SENTINEL_NAME }).problems,
    ),
    rule(['AIRLOCK_CA_CERT', 'AIRLOCK_CA_KEY'], (o) =>
      (o.AIRLOCK_CA_CERT === undefined) !== (o.AIRLOCK_CA_KEY === undefined) && 'AIRLOCK_CA_CERT / AIRLOCK_CA_KEY: set both or neither',
    ),
    rule(['API_TLS_CERT', 'API_TLS_KEY'], (o) =>
      (o.API_TLS_CERT === undefined) !== (o.API_TLS_KEY === undefined) &&
      'API_TLS_CERT / API_TLS_KEY: set both (PEM certificate and key files) or neither',
    ),
    rule(['AIRLOCK_CERT_DNS_SUFFIX', 'AIRLOCK_CERT_DNS_LEGACY_HOSTNAME'], (o) =>
      o.AIRLOCK_CERT_DNS_SUFFIX !== undefined &&
      o.AIRLOCK_CERT_DNS_LEGACY_HOSTNAME &&
      'AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: cannot be combined with AIRLOCK_CERT_DNS_SUFFIX (choose one naming)',
    ),
    // No list would mean no permitopen option at all, which sshd reads as "forward anywhere".
    rule(['AIRLOCK_SSH_ENDPOINT', 'AIRLOCK_SSH_PERMIT_OPEN'], (o) =>
      o.AIRLOCK_SSH_ENDPOINT !== undefined &&
      o.AIRLOCK_SSH_PERMIT_OPEN === undefined &&
      'AIRLOCK_SSH_PERMIT_OPEN: is required with AIRLOCK_SSH_ENDPOINT (the host:port list agents may forward to)',
    ),
  ],
);

export interface ApiConfig {
  databaseUrl: string | undefined;
  /** Prepared statements on DATABASE_URL (DATABASE_PREPARE, default on). */
  databasePrepare: boolean;
  redisUrl: string | undefined;
  /** The edge's Redis, URL or Sentinel group; null: lockout commands answer 503. */
  redis: RedisTarget | null;
  redisPrefix: string | undefined;
  dataDir: string;
  /** The agent bundle installers carry; undefined: the checkout's apps/agent/dist/main.js. */
  agentBundlePath: string | undefined;
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
  expirySweepSeconds: number;
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
  webhooks: WebhookDeliveryConfig;
}

export interface CertNamingConfig {
  /** DNS SANs are `{hostname}.{site}.{dnsSuffix}`; null: no DNS SAN (unless legacyHostname). */
  dnsSuffix: string | null;
  /** v1.1 profile: the bare host name as DNS SAN and CN. Never together with dnsSuffix. */
  legacyHostname: boolean;
  /** EKU serverAuth besides clientAuth. */
  serverAuth: boolean;
}

/** Webhook delivery (webhooks/worker.ts); times in database time, see store/webhooks.ts. */
export interface WebhookDeliveryConfig {
  /** This replica runs a delivery worker. */
  worker: boolean;
  retryBaseMs: number;
  /** A delivery still failing this long after its event is `failed`. */
  retryWindowSeconds: number;
  /** An endpoint failing this long is disabled (and audited). */
  disableAfterSeconds: number;
  timeoutMs: number;
  pollMs: number;
  /** Attempts in flight per endpoint and replica. */
  perEndpoint: number;
}
const formatHostPort = (hp: { host: string; port: number }) => (hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`);

export const loadApiConfig = (env: NodeJS.ProcessEnv = process.env): ApiConfig => {
  const o = ApiEnv.parse(env);
  let tls: ApiTlsMaterial | null = null;
  if (o.API_TLS_CERT !== undefined && o.API_TLS_KEY !== undefined) {
    const loaded = loadApiTls(o.API_TLS_CERT, o.API_TLS_KEY);
    if (!loaded.material) throw new ConfigError(loaded.problems, ApiEnv.app);
    tls = loaded.material;
  }
  const redis = resolveRedisTarget({ url: o.REDIS_URL, sentinels: o.REDIS_SENTINELS, name: o.REDIS_SENTINEL_NAME });
  const endpoint = o.AIRLOCK_SSH_ENDPOINT;
  return {
    databaseUrl: o.DATABASE_URL,
    databasePrepare: o.DATABASE_PREPARE,
    redisUrl: o.REDIS_URL,
    redis: redis.target,
    redisPrefix: o.EDGE_REDIS_PREFIX,
    dataDir: path.resolve(o.AIRLOCK_DATA_DIR),
    agentBundlePath: o.AIRLOCK_AGENT_BUNDLE === undefined ? undefined : path.resolve(o.AIRLOCK_AGENT_BUNDLE),
    secret: o.AIRLOCK_SECRET,
    host: o.API_HOST,
    port: o.API_PORT,
    trustedProxies: buildTrustList(o.API_TRUSTED_PROXIES),
    trustedProxiesText: o.API_TRUSTED_PROXIES.join(','),
    allowedHosts: new Set((o.API_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
    tls,
    pairingCodeTtlSeconds: o.AIRLOCK_PAIRING_CODE_TTL_SECONDS,
    challengeTtlSeconds: o.AIRLOCK_CHALLENGE_TTL_SECONDS,
    approvalTtlSeconds: o.AIRLOCK_APPROVAL_TTL_SECONDS,
    expirySweepSeconds: o.AIRLOCK_EXPIRY_SWEEP_SECONDS,
    pollIntervalSeconds: o.AIRLOCK_POLL_INTERVAL_SECONDS,
    collisionWindowSeconds: o.AIRLOCK_COLLISION_WINDOW_SECONDS,
    logLevel: o.AIRLOCK_LOG_LEVEL,
    auditMinRetentionDays: o.AIRLOCK_AUDIT_MIN_RETENTION_DAYS,
    siteKeyTtlSeconds: o.AIRLOCK_SITE_KEY_TTL_SECONDS === 0 ? null : o.AIRLOCK_SITE_KEY_TTL_SECONDS,
    siteKeyMaxUses: o.AIRLOCK_SITE_KEY_MAX_USES === 0 ? null : o.AIRLOCK_SITE_KEY_MAX_USES,
    bootstrapAdmin: o.AIRLOCK_BOOTSTRAP_ADMIN,
    caCertPath: o.AIRLOCK_CA_CERT,
    caKeyPath: o.AIRLOCK_CA_KEY,
    caBundleExtraPath: o.AIRLOCK_CA_BUNDLE_EXTRA,
    trustDomain: o.AIRLOCK_TRUST_DOMAIN,
    certTtlSeconds: o.AIRLOCK_CERT_TTL,
    certNames: {
      dnsSuffix: o.AIRLOCK_CERT_DNS_SUFFIX ?? null,
      legacyHostname: o.AIRLOCK_CERT_DNS_LEGACY_HOSTNAME,
      serverAuth: o.AIRLOCK_CERT_SERVER_AUTH,
    },
    siteKeyBurstUses: o.AIRLOCK_SITE_KEY_BURST_USES === 0 ? null : o.AIRLOCK_SITE_KEY_BURST_USES,
    // An api serving TLS itself always marks the console cookie Secure.
    consoleSecureCookie: o.AIRLOCK_CONSOLE_SECURE_COOKIE || tls !== null,
    sshEndpoint: endpoint
      ? {
          // Brackets kept on an IPv6 host, as this setting has always been read (domain/tunnel.ts strips them for the wire).
          host: endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host,
          port: endpoint.port,
          user: o.AIRLOCK_SSH_USER,
          permitOpen: o.AIRLOCK_SSH_PERMIT_OPEN?.items ?? [],
          remoteTarget: o.AIRLOCK_SSH_REMOTE_TARGET ? formatHostPort(o.AIRLOCK_SSH_REMOTE_TARGET) : null,
          remotePorts: o.AIRLOCK_SSH_REMOTE_PORTS,
        }
      : null,
    metricsHost: o.API_METRICS_HOST,
    metricsPort: o.API_METRICS_PORT,
    webhooks: {
      worker: o.AIRLOCK_WEBHOOK_WORKER,
      retryBaseMs: o.AIRLOCK_WEBHOOK_RETRY_BASE_MS,
      retryWindowSeconds: o.AIRLOCK_WEBHOOK_RETRY_WINDOW_SECONDS,
      disableAfterSeconds: o.AIRLOCK_WEBHOOK_DISABLE_AFTER_SECONDS,
      timeoutMs: o.AIRLOCK_WEBHOOK_TIMEOUT_MS,
      pollMs: o.AIRLOCK_WEBHOOK_POLL_MS,
      perEndpoint: o.AIRLOCK_WEBHOOK_CONCURRENCY,
    },
  };
};
