/**
 * SSH and HTTPS on one port (contract v1.1, "SSH and HTTPS on one port").
 *
 * With EDGE_SSH_UPSTREAM set, the public port is a plain TCP listener that
 * reads the first bytes of each connection: an SSH identification string
 * (`SSH-2.0-`) is piped byte for byte to the tunnel endpoint, a TLS
 * ClientHello (0x16) is handed to the edge's HTTPS server, anything else is
 * closed. The OpenSSH client speaks first (about 1 ms after connecting), so
 * this works; `ssh-keyscan` waits for the server and hangs here until the
 * header timeout.
 *
 * Every connection counts toward the per-IP connection cap from the moment
 * it is accepted, whichever protocol it turns out to be. A new SSH
 * connection then passes the SSH gate (ssh/gate.ts): the rate limit per
 * identity (IPv4, IPv6 /64, /56, /48, as the HTTP throttle counts them) and
 * the global cap of pre-auth connections, shared by every worker (issue 18
 * #2: sshd sees only the edge's address, so past its MaxStartups it refuses
 * agents and flood alike, at random). The demux cannot see the encrypted
 * authentication, so a piped connection counts as pre-auth for its first
 * EDGE_SSH_PREAUTH_SECONDS (sshd's LoginGraceTime: an unauthenticated one is
 * gone by then), and a client silent for EDGE_SSH_PREAUTH_IDLE_SECONDS inside
 * that window is closed. For each piped connection the edge notes in Redis
 * which client it carries (its outgoing address and port -> client IP), so
 * the tunnel can audit the agent's real address.
 */
import cluster from 'node:cluster';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildTrustList, foldIp, isTrusted, throttleIdentities } from '@airlock/net';
import type { Redis } from 'ioredis';
import { createFailFastRedisClient as createRedisClient } from '@airlock/lockouts';
import type { EdgeConfig } from './env.ts';
import { stopAccepting, type Stopping } from './listener.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { SshDemuxConfig } from './ssh/config.ts';
import { createSshGate } from './ssh/gate.ts';
import { pipeSsh, type PipeContext } from './ssh/pipe.ts';

export { loadSshDemuxConfig, type SshDemuxConfig } from './ssh/config.ts';

/** Which worker logged, in cluster mode. */
const WORKER = cluster.isWorker ? cluster.worker?.id : undefined;

const SSH_PREFIX = Buffer.from('SSH-2.0-');
const TLS_HANDSHAKE = 0x16;

export interface Demux {
  port: number;
  /**
   * Stops accepting (after taking in what the kernel already queued, see
   * listener.ts) and cuts the SSH pipes. `drained` resolves when every
   * accepted socket is gone: the HTTPS ones end with the edge's drain.
   */
  stopAccepting(): Stopping;
  /** End of the shutdown grace: every socket still open goes. */
  destroyAll(): void;
}

export const startDemux = async (opts: {
  /** The edge's HTTP(S) server; it never listens itself, it is handed sockets. */
  server: net.Server;
  config: EdgeConfig;
  demux: SshDemuxConfig;
  logger: Logger;
  metrics: Metrics;
}): Promise<Demux> => {
  const { server, config, demux, logger, metrics } = opts;
  const trust = buildTrustList(config.trustedProxies);
  const byIp = new Map<string, number>();
  const piped = new Set<net.Socket>();
  const open = new Set<net.Socket>();

  let redis: Redis | null = null;
  if (config.redis !== null) {
    // The edge's one Redis client recipe (URL or Sentinel group).
    redis = createRedisClient(config.redis);
    // Reported by the throttle's own client; this one only must not crash the process.
    redis.on('error', () => {});
  }

  // Notes and counts taken before Redis answers would be lost or unshared; wait briefly, like the throttle.
  if (redis !== null) {
    const r = redis;
    await Promise.race([new Promise((ok) => r.once('ready', ok)), new Promise((ok) => setTimeout(ok, 2_000).unref())]);
  }
  const gate = createSshGate({ config, demux, logger, redis });
  const pipes: PipeContext = { config, demux, logger, metrics, redis, gate, piped, worker: WORKER };

  const release = (ipKey: string) => {
    const n = (byIp.get(ipKey) ?? 1) - 1;
    if (n <= 0) byIp.delete(ipKey);
    else byIp.set(ipKey, n);
  };

  const listener = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    const peer = foldIp(socket.remoteAddress ?? '');
    const ids = throttleIdentities(peer);
    // The connection cap counts per IPv4 address or IPv6 /64, as the HTTP side's does (connections.ts).
    const ipKey = ids[0] ?? peer;
    const capped = !(config.trustedProxies.length > 0 && isTrusted(trust, peer));
    const count = byIp.get(ipKey) ?? 0;
    if (capped && count >= config.limits.maxConnectionsPerIp) {
      logger.log('warn', 'connection refused: per-IP connection cap', { ip: ipKey, cap: config.limits.maxConnectionsPerIp });
      socket.destroy();
      return;
    }
    byIp.set(ipKey, count + 1);
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      release(ipKey);
    });
    socket.on('error', () => socket.destroy());

    // A silent client, or one that trickles bytes that never decide, is closed at the header timeout.
    const timer = setTimeout(() => socket.destroy(), config.timeouts.headersMs);
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, SSH_PREFIX.length);
      const sshSoFar = seen.subarray(0, n).equals(SSH_PREFIX.subarray(0, n));
      if (seen[0] === TLS_HANDSHAKE || (config.tls === null && !sshSoFar)) {
        // Plain HTTP only when the edge itself has no TLS (a terminator in front speaks TLS for it).
        finish();
        // Paused, the bytes stay in the socket's buffer: the TLS layer replays
        // them when it takes the socket over; the HTTP parser reads them on resume.
        socket.pause();
        socket.unshift(seen);
        server.emit('connection', socket);
        if (config.tls === null) process.nextTick(() => socket.resume());
        return;
      }
      if (!sshSoFar) {
        finish();
        socket.destroy();
        return;
      }
      if (seen.length < SSH_PREFIX.length) return;
      finish();
      socket.pause();
      void pipeSsh(pipes, socket, seen, peer, ids);
    };
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
    };
    socket.on('data', onData);
    socket.resume();
  });

  const port = await new Promise<number>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(config.port, config.host, () => {
      listener.off('error', reject);
      resolve((listener.address() as AddressInfo).port);
    });
  });
  // The HTTP server never listens itself, so Node never started the timer
  // that enforces its header and request timeouts; 'listening' starts it
  // (Node's own tests do the same).
  server.emit('listening');
  logger.log('info', 'ssh demux on', {
    upstream: `${demux.upstream.host}:${demux.upstream.port}`,
    ssh_per_min: demux.sshPerMin,
    max_preauth: demux.maxPreauth,
    preauth_seconds: demux.preauthMs / 1000,
    preauth_idle_seconds: demux.preauthIdleMs / 1000,
    shared_by: gate.mode,
  });

  return {
    port,
    stopAccepting: () => {
      const stopping = stopAccepting(listener);
      const stopped = stopping.stopped.then((taken) => {
        for (const s of piped) s.destroy();
        return taken;
      });
      const drained = stopping.drained.then(() => {
        gate.close();
        redis?.disconnect();
      });
      return { stopped, drained };
    },
    destroyAll: () => {
      for (const s of open) s.destroy();
    },
  };
};
