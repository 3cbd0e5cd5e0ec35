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
 * it is accepted, whichever protocol it turns out to be; new SSH connections
 * are limited per IP per minute. For each piped connection the edge notes in
 * Redis which client it carries (its outgoing address and port -> client IP),
 * so the tunnel can audit the agent's real address.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildTrustList, foldIp, isTrusted, throttleIdentity } from '@airlock/net';
import type { Redis } from 'ioredis';
import { createRedisClient } from './redis-client.ts';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import * as v from 'valibot';
import { ConfigError, type EdgeConfig } from './env.ts';
import { stopAccepting, type Stopping } from './listener.ts';
import type { Logger } from './log.ts';

export interface SshDemuxConfig {
  upstream: { host: string; port: number };
  sshPerMin: number;
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
  EDGE_LIMIT_SSH_PER_MIN: v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.minValue(1, 'must be at least 1'), v.maxValue(1_000_000, 'must be at most 1000000')),
    '30',
  ),
});

/** EDGE_SSH_UPSTREAM and EDGE_LIMIT_SSH_PER_MIN; null when SSH is not multiplexed. */
export const loadSshDemuxConfig = (env: NodeJS.ProcessEnv): SshDemuxConfig | null => {
  const input = Object.fromEntries(Object.keys(DemuxEnv.entries).flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
  const parsed = v.safeParse(DemuxEnv, input);
  if (!parsed.success) throw new ConfigError(parsed.issues.map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '?'}: ${i.message}`));
  const up = parsed.output.EDGE_SSH_UPSTREAM;
  if (up === undefined) return null;
  const i = up.lastIndexOf(':');
  return { upstream: { host: up.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(up.slice(i + 1)) }, sshPerMin: parsed.output.EDGE_LIMIT_SSH_PER_MIN };
};

const SSH_PREFIX = Buffer.from('SSH-2.0-');
const TLS_HANDSHAKE = 0x16;
/** How long the note (edge port -> client IP) lives: far longer than any SSH authentication. */
const PEER_NOTE_SECONDS = 300;

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
}): Promise<Demux> => {
  const { server, config, demux, logger } = opts;
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
  const memory = new RateLimiterMemory({ keyPrefix: `${config.redisPrefix}rl:ssh`, points: demux.sshPerMin, duration: 60 });
  const limiter: RateLimiterAbstract =
    redis === null
      ? memory
      : new RateLimiterRedis({ storeClient: redis, keyPrefix: `${config.redisPrefix}rl:ssh`, points: demux.sshPerMin, duration: 60, rejectIfRedisNotReady: true, insuranceLimiter: memory });

  const release = (ipKey: string) => {
    const n = (byIp.get(ipKey) ?? 1) - 1;
    if (n <= 0) byIp.delete(ipKey);
    else byIp.set(ipKey, n);
  };

  const pipeSsh = async (client: net.Socket, first: Buffer, peer: string, ipKey: string) => {
    try {
      await limiter.consume(ipKey);
    } catch {
      logger.log('warn', 'ssh connection refused: per-IP rate limit', { ip: ipKey, limit: demux.sshPerMin });
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: demux.upstream.host, port: demux.upstream.port });
    piped.add(client);
    const end = () => {
      piped.delete(client);
      client.destroy();
      upstream.destroy();
    };
    upstream.once('error', end);
    client.once('error', end);
    client.once('close', end);
    upstream.once('close', end);
    upstream.once('connect', () => {
      const note = redis?.set(`${config.redisPrefix}ssh-peer:${foldIp(upstream.localAddress ?? '')}:${upstream.localPort ?? 0}`, peer, 'EX', PEER_NOTE_SECONDS);
      // Written before the first byte goes up, so the note exists before sshd can log the login.
      void Promise.resolve(note)
        .catch(() => logger.log('warn', 'ssh peer note not written; the tunnel will see the edge address', {}))
        .finally(() => {
          if (client.destroyed) return;
          upstream.setNoDelay(true);
          upstream.write(first);
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
    });
  };

  const listener = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    const peer = foldIp(socket.remoteAddress ?? '');
    const ipKey = throttleIdentity(peer);
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
      void pipeSsh(socket, seen, peer, ipKey);
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
  logger.log('info', 'ssh demux on', { upstream: `${demux.upstream.host}:${demux.upstream.port}`, ssh_per_min: demux.sshPerMin });

  return {
    port,
    stopAccepting: () => {
      const stopping = stopAccepting(listener);
      const stopped = stopping.stopped.then((taken) => {
        for (const s of piped) s.destroy();
        return taken;
      });
      const drained = stopping.drained.then(() => {
        redis?.disconnect();
      });
      return { stopped, drained };
    },
    destroyAll: () => {
      for (const s of open) s.destroy();
    },
  };
};
