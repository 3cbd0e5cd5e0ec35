/**
 * The tunnel endpoint's configuration, validated once at startup. Names from
 * the contract ("Tunnel endpoint (SSH)"); the rest are prefixed TUNNEL_.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { ApiUrlError, resolveTlsTrust, type TlsTrust } from '@airlock/client';
import * as v from 'valibot';
import { canonicalIp } from './procfs.ts';

const int = (fallback: number, min: number, max: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, 'must be a whole number'),
      v.transform(Number),
      v.minValue(min, `must be at least ${min}`),
      v.maxValue(max, `must be at most ${max}`),
    ),
    String(fallback),
  );
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const absPath = (what: string) => v.pipe(v.string(), v.check((p) => path.isAbsolute(p), `must be an absolute path (${what})`));

const EnvSchema = v.object({
  TUNNEL_HOST: v.optional(v.pipe(v.string(), v.check((h) => isIP(h) !== 0, 'must be an IP address')), '127.0.0.1'),
  TUNNEL_PORT: int(2222, 1, 65_535),
  TUNNEL_USER: v.optional(v.pipe(v.string(), v.regex(UNIX_USER, 'must be a Unix user name')), 'airlock'),
  TUNNEL_HOST_KEY: v.optional(absPath('sshd reloads need absolute paths')),
  TUNNEL_API_URL: v.optional(v.pipe(v.string(), v.regex(/^https?:\/\/[^\s"'\\]+$/, 'must be an http(s):// URL')), 'http://127.0.0.1:8082'),
  // Optional here only so its absence gets a readable message below.
  TUNNEL_API_TOKEN: v.optional(v.pipe(v.string(), v.regex(/^aop_[A-Za-z0-9_-]{20,200}$/, 'must be an aop_ operator token'))),
  // An https:// api: a private CA and/or a certificate pin, read as the CLI reads AIRLOCK_API_CA / AIRLOCK_API_PIN.
  TUNNEL_API_CA: v.optional(absPath('a PEM file of CA certificates')),
  TUNNEL_API_PIN: v.optional(v.string()),
  // http:// to anything but loopback sends the token and the key answers in clear: refused unless this says otherwise.
  TUNNEL_API_ALLOW_PLAINTEXT: v.optional(v.picklist(['0', '1'], 'must be 0 or 1'), '0'),
  AIRLOCK_DATA_DIR: v.optional(v.string(), './.airlock'),
  // Where the keys helper is installed: sshd insists that it and every parent are root-owned, not group/world-writable.
  TUNNEL_HELPER_DIR: v.optional(absPath('root-owned directory for the keys helper'), '/usr/local/libexec/airlock-tunnel'),
  // The account sshd runs the keys helper as; the only one (with root) that may open the keys socket.
  TUNNEL_KEYS_USER: v.optional(v.pipe(v.string(), v.regex(UNIX_USER, 'must be a Unix user name')), 'airlock-keys'),
  // The keys service's Unix socket; its directory is made root:<keys user's group> 0750.
  TUNNEL_KEYS_SOCKET: v.optional(
    v.pipe(absPath('the keys socket'), v.regex(/^\/[A-Za-z0-9_./-]{1,100}$/, 'must be a plain absolute path (A-Za-z0-9_./-, at most 100 characters)')),
    '/run/airlock-tunnel/keys.sock',
  ),
  TUNNEL_SSHD: v.optional(absPath('the sshd binary'), '/usr/sbin/sshd'),
  TUNNEL_REVOCATION_POLL_MS: int(3000, 200, 60_000),
  TUNNEL_API_TIMEOUT_MS: int(3000, 100, 30_000),
  // How often the counters of refused keys and cut sessions are logged (one line, only when they moved).
  TUNNEL_SUMMARY_INTERVAL_MS: int(60_000, 1000, 3_600_000),
  // The edge's Redis, where it notes which client each piped SSH connection came from.
  REDIS_URL: v.optional(v.pipe(v.string(), v.regex(/^rediss?:\/\//, 'must be a redis:// URL'))),
  EDGE_REDIS_PREFIX: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:._-]{1,64}$/, 'must be 1-64 characters of A-Za-z0-9:._-')), 'airlock:edge:'),
});

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
  redisUrl: string | null;
  redisPrefix: string;
}

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

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export const loadTunnelConfig = (env: NodeJS.ProcessEnv = process.env): TunnelConfig => {
  const input = Object.fromEntries(
    Object.keys(EnvSchema.entries).flatMap((k) => (env[k] !== undefined && env[k] !== '' ? [[k, env[k]]] : [])),
  );
  const parsed = v.safeParse(EnvSchema, input);
  if (!parsed.success) {
    throw new ConfigError(parsed.issues.map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '?'}: ${i.message}`));
  }
  const o = parsed.output;
  if (o.TUNNEL_API_TOKEN === undefined) {
    throw new ConfigError([`TUNNEL_API_TOKEN: is required (${TUNNEL_TOKEN_HOWTO})`]);
  }
  const apiUrl = new URL(o.TUNNEL_API_URL);
  const problems: string[] = [];
  let apiTrust: TlsTrust = {};
  try {
    apiTrust = resolveTlsTrust({ ca: ['TUNNEL_API_CA', env.TUNNEL_API_CA], pin: ['TUNNEL_API_PIN', env.TUNNEL_API_PIN] });
  } catch (err) {
    if (!(err instanceof ApiUrlError)) throw err;
    problems.push(err.message);
  }
  if (apiUrl.protocol === 'http:') {
    if ((o.TUNNEL_API_CA ?? o.TUNNEL_API_PIN) !== undefined) problems.push('TUNNEL_API_CA / TUNNEL_API_PIN: need an https:// TUNNEL_API_URL');
    if (!isLoopback(apiUrl.hostname) && o.TUNNEL_API_ALLOW_PLAINTEXT !== '1') {
      problems.push(
        `TUNNEL_API_URL: http:// to ${apiUrl.hostname} would send the tunnel token and every key answer in clear, and an on-path attacker could let any key in; ` +
          'use https:// (with TUNNEL_API_CA or TUNNEL_API_PIN), or set TUNNEL_API_ALLOW_PLAINTEXT=1 on a network you trust',
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
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
    redisUrl: o.REDIS_URL ?? null,
    redisPrefix: o.EDGE_REDIS_PREFIX,
  };
};
