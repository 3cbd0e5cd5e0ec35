/**
 * The SSH demux's settings (EDGE_SSH_*), validated once at startup like the
 * rest of the edge's configuration (env.ts).
 */
import * as v from 'valibot';
import { ConfigError, int } from '../env.ts';

/**
 * The first number of the tunnel's `MaxStartups` (apps/tunnel's generated
 * sshd_config): from there sshd starts refusing new connections at random,
 * and it cannot tell the sources apart, since behind the demux every
 * connection comes from the edge. The demux's pre-auth cap must stay below it
 * (test/tunnel/preauth-flood.test.ts reads the generated file and checks).
 */
export const TUNNEL_MAX_STARTUPS = 64;

/** Pre-auth connections the demux may hold at once, across workers and edges sharing Redis. */
export const DEFAULT_MAX_PREAUTH = 48;

export interface SshDemuxConfig {
  upstream: { host: string; port: number };
  /** New SSH connections per identity per 60 s (IPv6 /56 and /48 get EDGE_IPV6_*_FACTOR times this). */
  sshPerMin: number;
  /** EDGE_SSH_MAX_PREAUTH: global cap of connections inside their pre-auth window. */
  maxPreauth: number;
  /** EDGE_SSH_PREAUTH_SECONDS: how long a piped connection counts as unauthenticated (sshd's LoginGraceTime). */
  preauthMs: number;
  /** EDGE_SSH_PREAUTH_IDLE_SECONDS: inside that window, a client silent this long is closed. */
  preauthIdleMs: number;
}

const HOST_PORT = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})$/;

const DemuxEnv = v.object({
  EDGE_SSH_UPSTREAM: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(HOST_PORT, 'must be host:port of the tunnel endpoint (e.g. 127.0.0.1:2222)'),
      v.check((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535 && Number(s.slice(s.lastIndexOf(':') + 1)) > 0, 'port must be 1-65535'),
    ),
  ),
  EDGE_LIMIT_SSH_PER_MIN: int(30, 1, 1_000_000),
  EDGE_SSH_MAX_PREAUTH: int(
    DEFAULT_MAX_PREAUTH,
    1,
    TUNNEL_MAX_STARTUPS - 1,
    `must stay below the tunnel's MaxStartups (${TUNNEL_MAX_STARTUPS}): at that many unauthenticated connections sshd starts refusing logins at random, agents' included`,
  ),
  EDGE_SSH_PREAUTH_SECONDS: int(20, 1, 600),
  EDGE_SSH_PREAUTH_IDLE_SECONDS: int(10, 1, 600),
});

/** EDGE_SSH_UPSTREAM and its limits; null when SSH is not multiplexed. Throws ConfigError listing every problem. */
export const loadSshDemuxConfig = (env: NodeJS.ProcessEnv): SshDemuxConfig | null => {
  const input = Object.fromEntries(Object.keys(DemuxEnv.entries).flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
  const parsed = v.safeParse(DemuxEnv, input);
  if (!parsed.success) throw new ConfigError(parsed.issues.map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '?'}: ${i.message}`));
  const e = parsed.output;
  if (e.EDGE_SSH_PREAUTH_IDLE_SECONDS > e.EDGE_SSH_PREAUTH_SECONDS) {
    throw new ConfigError(['EDGE_SSH_PREAUTH_IDLE_SECONDS must not exceed EDGE_SSH_PREAUTH_SECONDS (the idle timeout applies inside the pre-auth window)']);
  }
  const up = e.EDGE_SSH_UPSTREAM;
  if (up === undefined) return null;
  const i = up.lastIndexOf(':');
  return {
    upstream: { host: up.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(up.slice(i + 1)) },
    sshPerMin: e.EDGE_LIMIT_SSH_PER_MIN,
    maxPreauth: e.EDGE_SSH_MAX_PREAUTH,
    preauthMs: e.EDGE_SSH_PREAUTH_SECONDS * 1000,
    preauthIdleMs: e.EDGE_SSH_PREAUTH_IDLE_SECONDS * 1000,
  };
};
