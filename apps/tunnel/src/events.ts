/**
 * What the tunnel tells the api and its operators: audit events for real
 * sessions (from the process table), a bounded `tunnel.denied` for a known
 * agent's refused key, and counters for everything else. A stranger's
 * attempts are counted, never written one row each (issue 18, finding 1:
 * one connection wrote 21 rows).
 */
import { createFailFastRedisClient, edgeKeys } from '@airlock/lockouts';
import type { LineLogger } from '@airlock/log';
import { foldIp } from '@airlock/net';
import type { TunnelApi, TunnelEvent } from './api.ts';
import type { TunnelConfig } from './env.ts';

/** @airlock/log's `log` (redaction included), passed around as a function. */
export type LogFn = LineLogger['log'];

/** A client connection as the kernel's TCP table shows it (sshd's peer: the agent, or the edge). */
export interface Peer {
  ip: string;
  port: number;
}

/** Exposed for a metrics endpoint later; summarised in the log meanwhile. */
export interface TunnelCounters {
  /** Keys the api authorised (sshd asks twice per login: query, then signature). */
  keys_authorised: number;
  /** Offered keys no agent holds, or of a type agents never have: counted only. */
  keys_unknown: number;
  /** Offered keys of known agents that are not active. */
  keys_refused_inactive: number;
  /** tunnel.denied rows left out by the one-per-agent-per-minute bound. */
  denied_rows_suppressed: number;
  /** Questions the keys service refused: unverifiable caller, api away, odd answer. */
  keys_failed: number;
  sessions_opened: number;
  sessions_closed: number;
  sessions_cut_revoked: number;
  sessions_cut_unidentified: number;
  /** Key lookups the api did not answer (issue 21 metrics). */
  keys_lookup_errors: number;
  /** sshd exited and was started again. */
  sshd_restarts: number;
}

const DENIED_PER_AGENT_MS = 60_000;

export interface Reporter {
  counters: TunnelCounters;
  /** Sessions closed, by why (the metrics' tunnel_sessions_closed_total). */
  closedByReason: Record<string, number>;
  /** The agent's own address: the edge's note for a piped connection, else the peer sshd saw. */
  sourceIpOf(peer: Peer): Promise<string>;
  report(e: TunnelEvent): Promise<void>;
  /** A known agent's refused key: at most one `tunnel.denied` per agent per minute. */
  deniedKnown(agentIds: string[], fingerprint: string, peer: Peer, reason: string): Promise<void>;
  close(): void;
}

export const createReporter = (config: Pick<TunnelConfig, 'redis' | 'redisPrefix' | 'summaryEveryMs'>, api: TunnelApi, log: LogFn): Reporter => {
  const counters: TunnelCounters = {
    keys_authorised: 0,
    keys_unknown: 0,
    keys_refused_inactive: 0,
    denied_rows_suppressed: 0,
    keys_failed: 0,
    sessions_opened: 0,
    sessions_closed: 0,
    sessions_cut_revoked: 0,
    sessions_cut_unidentified: 0,
    keys_lookup_errors: 0,
    sshd_restarts: 0,
  };
  const closedByReason: Record<string, number> = {};
  // The edge's own client recipe (URL or Sentinel group): a lookup fails at once while Redis is away.
  const redis = config.redis ? createFailFastRedisClient(config.redis) : null;
  const peerKey = edgeKeys(config.redisPrefix).sshPeer;
  redis?.on('error', () => {
    // Reported where it matters (a lookup that fails); ioredis reconnects itself.
  });

  const sourceIpOf = async (peer: Peer): Promise<string> => {
    const seen = foldIp(peer.ip);
    if (!redis) return seen;
    try {
      const hit = await Promise.race([
        redis.get(peerKey(seen, peer.port)),
        new Promise<null>((r) => setTimeout(() => r(null), 500).unref()),
      ]);
      return hit && /^[0-9A-Fa-f:.]{2,45}$/.test(hit) ? hit : seen;
    } catch {
      return seen;
    }
  };

  const report = (e: TunnelEvent) =>
    api.event(e).catch((err: unknown) => log('warn', 'tunnel event not recorded', { event: e.event, reason: err instanceof Error ? err.message : 'unknown' }));

  const lastDenied = new Map<string, number>();
  const deniedKnown = async (agentIds: string[], fingerprint: string, peer: Peer, reason: string) => {
    const now = Date.now();
    if (lastDenied.size > 10_000) for (const [id, at] of lastDenied) if (now - at >= DENIED_PER_AGENT_MS) lastDenied.delete(id);
    for (const agentId of agentIds) {
      const last = lastDenied.get(agentId);
      if (last !== undefined && now - last < DENIED_PER_AGENT_MS) {
        counters.denied_rows_suppressed++;
        continue;
      }
      lastDenied.set(agentId, now);
      const sourceIp = await sourceIpOf(peer);
      log('info', 'tunnel denied', { agent_id: agentId, source_ip: sourceIp, fingerprint, reason });
      await report({ event: 'denied', fingerprint, agent_id: agentId, source_ip: sourceIp, source_port: peer.port, reason });
    }
  };

  // One line a minute (by default) when anything moved: what an operator needs, at a bounded rate.
  let logged = JSON.stringify(counters);
  const summarise = (force: boolean) => {
    const now = JSON.stringify(counters);
    if (now === logged && !force) return;
    logged = now;
    log('info', 'tunnel auth summary', { ...counters });
  };
  const timer = setInterval(() => summarise(false), config.summaryEveryMs);
  timer.unref();

  return {
    counters,
    closedByReason,
    sourceIpOf,
    report,
    deniedKnown,
    close: () => {
      clearInterval(timer);
      summarise(true);
      redis?.disconnect();
    },
  };
};
