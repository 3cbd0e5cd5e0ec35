/**
 * Runs sshd in the foreground and keeps it running; turns its VERBOSE log
 * into tunnel events; cuts the connections of revoked agents. sshd itself
 * decides who gets in (through the keys helper); this process makes sure a
 * revocation also ends what is already open, whatever the client asked for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { foldIp } from '@airlock/net';
import { Redis } from 'ioredis';
import type { TunnelApi } from './api.ts';
import type { TunnelConfig } from './env.ts';
import { parseSshdLine, type SshdLogEvent } from './sshd-log.ts';
import { endProcesses, establishedPeerPorts, sshdListenersFor, sshdPidsForConnection } from './sockets.ts';

export type LogFn = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

interface Connection {
  ip: string;
  port: number;
  sourceIp: string;
  fingerprint: string;
  agentId: string;
}

export interface Supervisor {
  stop(): Promise<void>;
  /** SIGHUP to sshd: it re-executes itself with the same absolute paths and re-reads its config; sessions stay. */
  reload(): void;
  /** Resolves once sshd has logged that it listens (the first time). */
  listening: Promise<void>;
}

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;

export const startSupervisor = (config: TunnelConfig, sshdConfigPath: string, api: TunnelApi, log: LogFn): Supervisor => {
  const conns = new Map<string, Connection>();
  const keyOf = (ip: string, port: number) => `${foldIp(ip)}|${port}`;
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 1000 })
    : null;
  redis?.on('error', () => {
    // Reported where it matters (a lookup that fails); ioredis reconnects itself.
  });

  /** The agent's own address: the edge notes (its outgoing port -> client IP) for each SSH connection it pipes. */
  const sourceIpOf = async (ip: string, port: number): Promise<string> => {
    if (!redis) return foldIp(ip);
    try {
      const hit = await Promise.race([
        redis.get(`${config.redisPrefix}ssh-peer:${foldIp(ip)}:${port}`),
        new Promise<null>((r) => setTimeout(() => r(null), 500).unref()),
      ]);
      return hit && /^[0-9A-Fa-f:.]{2,45}$/.test(hit) ? hit : foldIp(ip);
    } catch {
      return foldIp(ip);
    }
  };

  const report = (e: Parameters<TunnelApi['event']>[0]) =>
    api.event(e).catch((err: unknown) => log('warn', 'tunnel event not recorded', { event: e.event, reason: err instanceof Error ? err.message : 'unknown' }));

  const cut = async (c: Connection, reason: string) => {
    conns.delete(keyOf(c.ip, c.port));
    // Fresh lookup at the moment of the cut: a PID noted earlier may belong to someone else by now.
    const pids = await sshdPidsForConnection(config.port, c.ip, c.port);
    await endProcesses(pids);
    log('info', 'tunnel cut', { agent_id: c.agentId, source_ip: c.sourceIp, reason, processes: pids.length });
    await report({ event: 'closed', fingerprint: c.fingerprint, agent_id: c.agentId, source_ip: c.sourceIp, source_port: c.port, reason });
  };

  const onEvent = async (e: SshdLogEvent) => {
    if (e.kind === 'accepted') {
      const sourceIp = await sourceIpOf(e.ip, e.port);
      let agentId: string | null = null;
      try {
        agentId = await api.agentFor(e.fingerprint);
      } catch (err) {
        log('warn', 'cannot identify the agent of a new tunnel', { reason: err instanceof Error ? err.message : 'unknown' });
      }
      if (agentId === null) {
        // A connection the revocation loop could not follow must not stay open.
        const pids = await sshdPidsForConnection(config.port, e.ip, e.port);
        await endProcesses(pids);
        log('warn', 'tunnel cut: agent not identified', { source_ip: sourceIp, fingerprint: e.fingerprint });
        await report({ event: 'denied', fingerprint: e.fingerprint, source_ip: sourceIp, source_port: e.port, reason: 'unidentified' });
        return;
      }
      const conn: Connection = { ip: e.ip, port: e.port, sourceIp, fingerprint: e.fingerprint, agentId };
      conns.set(keyOf(e.ip, e.port), conn);
      log('info', 'tunnel opened', { agent_id: agentId, source_ip: sourceIp });
      await report({ event: 'opened', fingerprint: e.fingerprint, agent_id: agentId, source_ip: sourceIp, source_port: e.port });
    } else if (e.kind === 'failed') {
      const sourceIp = await sourceIpOf(e.ip, e.port);
      log('info', 'tunnel denied', { source_ip: sourceIp, fingerprint: e.fingerprint });
      await report({ event: 'denied', fingerprint: e.fingerprint, source_ip: sourceIp, source_port: e.port, reason: 'key_not_authorized' });
    } else if (e.kind === 'closed') {
      const c = conns.get(keyOf(e.ip, e.port));
      if (!c) return;
      conns.delete(keyOf(e.ip, e.port));
      log('info', 'tunnel closed', { agent_id: c.agentId, source_ip: c.sourceIp });
      await report({ event: 'closed', fingerprint: c.fingerprint, agent_id: c.agentId, source_ip: c.sourceIp, source_port: c.port, reason: 'disconnected' });
    }
  };

  // Events of one connection must keep their order (opened before closed): one queue.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (e: SshdLogEvent) => {
    queue = queue.then(() => onEvent(e)).catch((err: unknown) => log('error', 'sshd event failed', { reason: err instanceof Error ? err.message : 'unknown' }));
  };

  // ---- sshd, kept running ------------------------------------------------
  let child: ChildProcess | null = null;
  let stopping = false;
  let restartDelay = RESTART_MIN_MS;
  let restartTimer: NodeJS.Timeout | null = null;
  let markListening: () => void = () => {};
  const listening = new Promise<void>((r) => (markListening = r));

  const startSshd = () => {
    const started = Date.now();
    const proc = spawn(config.sshd, ['-D', '-e', '-f', sshdConfigPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    log('info', 'sshd started', { pid: proc.pid ?? null });
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        // sshd's lines carry addresses and fingerprints, never secrets; bounded all the same.
        log('info', 'sshd', { line: line.slice(0, 300) });
        const e = parseSshdLine(line);
        if (e?.kind === 'listening') markListening();
        else if (e) enqueue(e);
      });
    }
    proc.once('exit', (code, signal) => {
      child = null;
      if (stopping) return;
      // A crash loop backs off; a long healthy run starts the backoff over.
      if (Date.now() - started > 60_000) restartDelay = RESTART_MIN_MS;
      log('error', 'sshd exited; restarting', { code, signal, in_ms: restartDelay });
      restartTimer = setTimeout(startSshd, restartDelay);
      restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
    });
  };

  // ---- revocation loop ---------------------------------------------------
  let polling = false;
  const poll = async () => {
    if (polling || stopping) return;
    polling = true;
    try {
      const open = await establishedPeerPorts(config.port);
      for (const c of [...conns.values()]) {
        if (!open.has(c.port)) {
          conns.delete(keyOf(c.ip, c.port));
          await report({ event: 'closed', fingerprint: c.fingerprint, agent_id: c.agentId, source_ip: c.sourceIp, source_port: c.port, reason: 'gone' });
        }
      }
      const ids = [...new Set([...conns.values()].map((c) => c.agentId))];
      if (ids.length === 0) return;
      let active: Set<string>;
      try {
        active = await api.activeAgents(ids);
      } catch (err) {
        // Open tunnels stay up while the api is away; new logins are refused meanwhile (fail closed).
        log('warn', 'revocation check failed; open tunnels kept', { reason: err instanceof Error ? err.message : 'unknown' });
        return;
      }
      for (const c of [...conns.values()]) if (!active.has(c.agentId)) await cut(c, 'revoked');
    } finally {
      polling = false;
    }
  };
  const pollTimer = setInterval(() => void poll(), config.revocationPollMs);

  startSshd();

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(pollTimer);
    if (restartTimer) clearTimeout(restartTimer);
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    // Whatever else listens with our config (a restart that raced the stop) goes too.
    await endProcesses(await sshdListenersFor(sshdConfigPath));
    await queue;
    // Sessions outlive the listener (setsid); without this process nobody would
    // enforce revocation on them, so they end with it.
    for (const c of [...conns.values()]) await cut(c, 'endpoint_stopped');
    redis?.disconnect();
  };

  const reload = () => {
    if (child && child.exitCode === null) {
      log('info', 'sshd reload requested');
      child.kill('SIGHUP');
    }
  };

  return { stop, listening, reload };
};
