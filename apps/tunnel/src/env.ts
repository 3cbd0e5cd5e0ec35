/**
 * The tunnel endpoint's configuration, validated once at startup. Names from
 * the contract ("Tunnel endpoint (SSH)"); the rest are prefixed TUNNEL_.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import {
  absolutePath,
  bool,
  caFile,
  ConfigError,
  defineEnv,
  int,
  ipAddress,
  pin,
  port,
  redisFields,
  redisKeyPrefix,
  resolveRedisTarget,
  unixUser,
  url,
  type RedisTarget,
} from '@airlock/config';
import { DEFAULT_KEY_PREFIX } from '@airlock/lockouts';
import type { TlsTrust } from '@airlock/transport';
import * as v from 'valibot';
import { canonicalIp } from './procfs.ts';


/** What to run for the token the endpoint needs (issue 18: its own role; a service token is refused). */
export const TUNNEL_TOKEN_HOWTO = 'a tunnel operator token: pnpm airlock operators create --name tunnel --role tunnel';

/** Loopback names and addresses: the only places plain http:// may go without TUNNEL_API_ALLOW_PLAINTEXT. */
const isLoopback = (hostname: string): boolean => {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 0) return false;
  const ip = canonicalIp(host);
  return ip === '::1' || /^127\./.test(ip);
};

/** Every variable the tunnel endpoint reads; docs/configuration.md's tunnel table is checked against it. */
export const TunnelEnv = defineEnv(
  'tunnel',
  {
    TUNNEL_HOST: v.optional(ipAddress(), '127.0.0.1'),
    TUNNEL_PORT: port(2222, { allowZero: false }),
    TUNNEL_USER: v.optional(unixUser(), 'airlock'),
    TUNNEL_HOST_KEY: v.optional(absolutePath('sshd reloads need absolute paths')),
    TUNNEL_API_URL: v.optional(url(['http', 'https'], { bare: true }), 'http://127.0.0.1:8082'),
    // Optional here only so its absence gets a readable message below.
    TUNNEL_API_TOKEN: v.optional(v.pipe(v.string(), v.regex(/^aop_[A-Za-z0-9_-]{20,200}$/, 'must be an aop_ operator token'))),
    // An https:// api: a private CA and/or a certificate pin, read as the CLI reads AIRLOCK_API_CA / AIRLOCK_API_PIN.
    TUNNEL_API_CA: v.optional(caFile({ absolute: true })),
    TUNNEL_API_PIN: v.optional(pin()),
    // http:// to anything but loopback sends the token and the key answers in clear: refused unless this says otherwise.
    TUNNEL_API_ALLOW_PLAINTEXT: bool('0'),
    AIRLOCK_DATA_DIR: v.optional(v.string(), './.airlock'),
    // Where the keys helper is installed: sshd insists that it and every parent are root-owned, not group/world-writable.
    TUNNEL_HELPER_DIR: v.optional(absolutePath('root-owned directory for the keys helper'), '/usr/local/libexec/airlock-tunnel'),
    // The account sshd runs the keys helper as; the only one (with root) that may open the keys socket.
    TUNNEL_KEYS_USER: v.optional(unixUser(), 'airlock-keys'),
    // The keys service's Unix socket; its directory is made root:<keys user's group> 0750.
    TUNNEL_KEYS_SOCKET: v.optional(
      v.pipe(absolutePath('the keys socket'), v.regex(/^\/[A-Za-z0-9_./-]{1,100}$/, 'must be a plain absolute path (A-Za-z0-9_./-, at most 100 characters)')),
      '/run/airlock-tunnel/keys.sock',
    ),
    TUNNEL_SSHD: v.optional(absolutePath('the sshd binary'), '/usr/sbin/sshd'),
    TUNNEL_REVOCATION_POLL_MS: int(3000, 200, 60_000),
    TUNNEL_API_TIMEOUT_MS: int(3000, 100, 30_000),
    // How often the counters of refused keys and cut sessions are logged (one line, only when they moved).
    TUNNEL_SUMMARY_INTERVAL_MS: int(60_000, 1000, 3_600_000),
    // Issue 21: the lease under which the api counts this endpoint's sessions (renewed every third of it);
    // an endpoint that dies shows its agents disconnected this long after its last report (+ up to 5 s).
    TUNNEL_LEASE_SECONDS: int(45, 5, 600),
    // Prometheus metrics (issue 21); port 0 disables the listener.
    TUNNEL_METRICS_HOST: v.optional(ipAddress(), '127.0.0.1'),
    TUNNEL_METRICS_PORT: port(9466, { allowZero: true }),
    // The edge's Redis (URL or Sentinel group) and key prefix, where it notes which client each piped SSH connection came from.
    ...redisFields(),
    EDGE_REDIS_PREFIX: redisKeyPrefix(DEFAULT_KEY_PREFIX),
  },
  (rule) => [
    rule(['TUNNEL_API_TOKEN'], (o) => o.TUNNEL_API_TOKEN === undefined && `TUNNEL_API_TOKEN: is required (${TUNNEL_TOKEN_HOWTO})`),
    rule(['TUNNEL_API_URL', 'TUNNEL_API_CA', 'TUNNEL_API_PIN'], (o) =>
      o.TUNNEL_API_URL.startsWith('http:') &&
      (o.TUNNEL_API_CA ?? o.TUNNEL_API_PIN) !== undefined &&
      'TUNNEL_API_CA / TUNNEL_API_PIN: need an https:// TUNNEL_API_URL',
    ),
    rule(['TUNNEL_API_URL', 'TUNNEL_API_ALLOW_PLAINTEXT'], (o) => {
      const api = new URL(o.TUNNEL_API_URL);
      return (
        api.protocol === 'http:' &&
        !isLoopback(api.hostname) &&
        !o.TUNNEL_API_ALLOW_PLAINTEXT &&
        `TUNNEL_API_URL: http:// to ${api.hostname} would send the tunnel token and every key answer in clear, and an on-path attacker could let any key in; ` +
          'use https:// (with TUNNEL_API_CA or TUNNEL_API_PIN), or set TUNNEL_API_ALLOW_PLAINTEXT=1 on a network you trust'
      );
    }),
    rule(['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'], (o) =>
      resolveRedisTarget({ url: o.REDIS_URL, sentinels: o.REDIS_SENTINELS, name: o.REDIS_SENTINEL_NAME }).problems,
    ),
  ],
);

export interface TunnelConfig {
  host: string;
  port: number;
  user: string;
  hostKey: string;
  apiUrl: string;
  apiToken: string;
  /** CA and/or pin for an https:// api. */
  apiTrust: TlsTrust;
  stateDir: string;
  helperDir: string;
  keysUser: string;
  keysSocket: string;
  sshd: string;
  revocationPollMs: number;
  apiTimeoutMs: number;
  summaryEveryMs: number;
  leaseSeconds: number;
  metricsHost: string;
  /** 0: no metrics listener. */
  metricsPort: number;
  /** The edge's Redis, URL or Sentinel group; null: the audit shows the address sshd saw. */
  redis: RedisTarget | null;
  redisPrefix: string;
}

export const loadTunnelConfig = (env: NodeJS.ProcessEnv = process.env): TunnelConfig => {
  const o = TunnelEnv.parse(env);
  // Checked by the rule above; a ConfigError rather than a non-null assertion.
  if (o.TUNNEL_API_TOKEN === undefined) throw new ConfigError([`TUNNEL_API_TOKEN: is required (${TUNNEL_TOKEN_HOWTO})`], TunnelEnv.app);
  const apiTrust: TlsTrust = {};
  if (o.TUNNEL_API_CA !== undefined) apiTrust.ca = o.TUNNEL_API_CA;
  if (o.TUNNEL_API_PIN !== undefined) {
    apiTrust.pinSha256 = o.TUNNEL_API_PIN;
    apiTrust.pinSetting = 'TUNNEL_API_PIN';
  }
  const stateDir = path.resolve(o.AIRLOCK_DATA_DIR, 'tunnel');
  return {
    host: o.TUNNEL_HOST,
    port: o.TUNNEL_PORT,
    user: o.TUNNEL_USER,
    hostKey: o.TUNNEL_HOST_KEY ?? path.join(stateDir, 'ssh_host_ed25519_key'),
    apiUrl: o.TUNNEL_API_URL.replace(/\/+$/, ''),
    apiToken: o.TUNNEL_API_TOKEN,
    apiTrust,
    stateDir,
    helperDir: o.TUNNEL_HELPER_DIR,
    keysUser: o.TUNNEL_KEYS_USER,
    keysSocket: o.TUNNEL_KEYS_SOCKET,
    sshd: o.TUNNEL_SSHD,
    revocationPollMs: o.TUNNEL_REVOCATION_POLL_MS,
    apiTimeoutMs: o.TUNNEL_API_TIMEOUT_MS,
    summaryEveryMs: o.TUNNEL_SUMMARY_INTERVAL_MS,
    leaseSeconds: o.TUNNEL_LEASE_SECONDS,
    metricsHost: o.TUNNEL_METRICS_HOST,
    metricsPort: o.TUNNEL_METRICS_PORT,
    redis: resolveRedisTarget({ url: o.REDIS_URL, sentinels: o.REDIS_SENTINELS, name: o.REDIS_SENTINEL_NAME }).target,
    redisPrefix: o.EDGE_REDIS_PREFIX,
  };
};
