/**
 * The SSH demux's settings (EDGE_SSH_*), validated once at startup like the
 * rest of the edge's configuration (env.ts).
 */
import { defineEnv, hostPort, int } from '@airlock/config';
import * as v from 'valibot';

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

/** The SSH demux's variables; unset EDGE_SSH_UPSTREAM: SSH is not multiplexed. */
export const SshDemuxEnv = defineEnv(
  'edge',
  {
    EDGE_SSH_UPSTREAM: v.optional(hostPort('127.0.0.1:2222, the tunnel endpoint')),
    EDGE_LIMIT_SSH_PER_MIN: int(30, 1, 1_000_000),
    EDGE_SSH_MAX_PREAUTH: int(
      DEFAULT_MAX_PREAUTH,
      1,
      TUNNEL_MAX_STARTUPS - 1,
      `must stay below the tunnel's MaxStartups (${TUNNEL_MAX_STARTUPS}): at that many unauthenticated connections sshd starts refusing logins at random, agents' included`,
    ),
    EDGE_SSH_PREAUTH_SECONDS: int(20, 1, 600),
    EDGE_SSH_PREAUTH_IDLE_SECONDS: int(10, 1, 600),
  },
  (rule) => [
    rule(['EDGE_SSH_PREAUTH_IDLE_SECONDS', 'EDGE_SSH_PREAUTH_SECONDS'], (o) =>
      o.EDGE_SSH_PREAUTH_IDLE_SECONDS > o.EDGE_SSH_PREAUTH_SECONDS &&
      'EDGE_SSH_PREAUTH_IDLE_SECONDS must not exceed EDGE_SSH_PREAUTH_SECONDS (the idle timeout applies inside the pre-auth window)',
    ),
  ],
);

/** EDGE_SSH_UPSTREAM and its limits; null when SSH is not multiplexed. Throws ConfigError listing every problem. */
export const loadSshDemuxConfig = (env: NodeJS.ProcessEnv): SshDemuxConfig | null => {
  const e = SshDemuxEnv.parse(env);
  const upstream = e.EDGE_SSH_UPSTREAM;
  if (upstream === undefined) return null;
  return {
    upstream,
    sshPerMin: e.EDGE_LIMIT_SSH_PER_MIN,
    maxPreauth: e.EDGE_SSH_MAX_PREAUTH,
    preauthMs: e.EDGE_SSH_PREAUTH_SECONDS * 1000,
    preauthIdleMs: e.EDGE_SSH_PREAUTH_IDLE_SECONDS * 1000,
  };
};
