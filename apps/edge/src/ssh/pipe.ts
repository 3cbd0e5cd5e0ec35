/**
 * One SSH connection the demux recognised: admitted by the SSH gate (rate
 * and pre-auth cap), piped byte for byte to the tunnel endpoint, and watched
 * during its pre-auth window.
 *
 * The window is an approximation, and errs on the safe side: the demux
 * cannot read the encrypted authentication, so every connection counts as
 * pre-auth for EDGE_SSH_PREAUTH_SECONDS after it is piped, agents that
 * logged in after one second included. sshd closes an unauthenticated
 * connection at LoginGraceTime (the same 20 s), so one still open after the
 * window has logged in, and stops counting.
 */
import * as net from 'node:net';
import { edgeKeys } from '@airlock/lockouts';
import { foldIp } from '@airlock/net';
import type { Redis } from 'ioredis';
import type { EdgeConfig } from '../env.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { SshDemuxConfig } from './config.ts';
import type { SshGate } from './gate.ts';

/** How long the note (edge port -> client IP) lives: far longer than any SSH authentication. */
const PEER_NOTE_SECONDS = 300;

export interface PipeContext {
  config: EdgeConfig;
  demux: SshDemuxConfig;
  logger: Logger;
  metrics: Metrics;
  redis: Redis | null;
  gate: SshGate;
  /** Every piped client socket, cut when the edge stops accepting. */
  piped: Set<net.Socket>;
  worker: number | undefined;
}

/** `first`: the bytes read so far (the identification string); `ids`: the client's throttle identities. */
export const pipeSsh = async (ctx: PipeContext, client: net.Socket, first: Buffer, peer: string, ids: readonly string[]): Promise<void> => {
  const { config, demux, logger, metrics, redis, gate } = ctx;
  const ip = ids[0] ?? peer;
  const port = client.remotePort;
  const admission = await gate.admit(ids, () => {
    metrics.sshPreauthClosed.inc({ reason: 'evicted' });
    logger.log('warn', 'ssh pre-auth connection closed: evicted for a client holding fewer slots', { ip, port, worker: ctx.worker });
    client.destroy();
  });
  if (!admission.ok) {
    metrics.ssh.inc({ outcome: admission.reason });
    logger.log(
      'warn',
      admission.reason === 'rate' ? 'ssh connection refused: per-IP rate limit' : 'ssh connection refused: pre-auth cap',
      admission.reason === 'rate' ? { ip, port, limit: demux.sshPerMin, worker: ctx.worker } : { ip, port, cap: demux.maxPreauth, worker: ctx.worker },
    );
    client.destroy();
    return;
  }
  const slot = admission.slot;
  if (client.destroyed) {
    slot.release();
    return;
  }
  metrics.ssh.inc({ outcome: 'piped' });
  metrics.sshPreauthOpen.inc();
  // The SSH counterpart of the access line: one per admitted connection.
  if (config.accessLog) logger.log('info', 'ssh connection piped', { ip, port, worker: ctx.worker });

  // The pre-auth window, and the idle timeout inside it (client bytes only:
  // while sshd asks the keys helper the client is rightly silent, and that
  // wait is far shorter than the timeout).
  let inWindow = true;
  let lastByte = performance.now();
  const onClientData = (): void => {
    lastByte = performance.now();
  };
  const idleCheck = (): void => {
    const quiet = performance.now() - lastByte;
    if (quiet < demux.preauthIdleMs) {
      idle = setTimeout(idleCheck, demux.preauthIdleMs - quiet);
      return;
    }
    metrics.sshPreauthClosed.inc({ reason: 'idle' });
    logger.log('warn', 'ssh pre-auth connection closed: idle', { ip, port, idle_seconds: demux.preauthIdleMs / 1000, worker: ctx.worker });
    client.destroy();
  };
  let idle = setTimeout(idleCheck, demux.preauthIdleMs);
  const leaveWindow = (): void => {
    if (!inWindow) return;
    inWindow = false;
    clearTimeout(idle);
    clearTimeout(windowEnd);
    client.off('data', onClientData);
    metrics.sshPreauthOpen.dec();
    slot.release();
  };
  const windowEnd = setTimeout(leaveWindow, demux.preauthMs);

  const upstream = net.connect({ host: demux.upstream.host, port: demux.upstream.port });
  ctx.piped.add(client);
  const end = () => {
    leaveWindow();
    ctx.piped.delete(client);
    client.destroy();
    upstream.destroy();
  };
  upstream.once('error', end);
  client.once('error', end);
  client.once('close', end);
  upstream.once('close', end);
  upstream.once('connect', () => {
    const note = redis?.set(edgeKeys(config.redisPrefix).sshPeer(foldIp(upstream.localAddress ?? ''), upstream.localPort ?? 0), peer, 'EX', PEER_NOTE_SECONDS);
    // Written before the first byte goes up, so the note exists before sshd can log the login.
    void Promise.resolve(note)
      .catch(() => logger.log('warn', 'ssh peer note not written; the tunnel will see the edge address', {}))
      .finally(() => {
        if (client.destroyed) return;
        upstream.setNoDelay(true);
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
        if (inWindow) client.on('data', onClientData);
        client.resume();
      });
  });
};
