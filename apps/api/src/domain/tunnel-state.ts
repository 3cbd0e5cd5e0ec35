/**
 * Issue 21: live tunnel state and reverse ports. Each endpoint reports the
 * sessions it holds (its whole list, so a lost report is repaired by the
 * next) under a lease it renews; an agent is connected while any endpoint
 * with a live lease holds a session of it. An endpoint that dies stops
 * renewing, and the reaper (every few seconds, on any api replica) shows
 * its agents disconnected once its lease has run out. Every change of an
 * agent's state writes `tunnel.connected` / `tunnel.disconnected`.
 */
import type { AgentTunnel } from '@airlock/schema';
import type { Executor } from '../db/client.ts';
import {
  ensureRemotePort,
  lockAgentTunnels,
  renewLease,
  replaceSessions,
  setAgentTunnelState,
  takeExpiredEndpoints,
  type ReportedSession,
} from '../store/tunnel-state.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';

export { tunnelFilter } from '../store/tunnel-state.ts';

/** The agent record's `tunnel` object, from the agent's row (the one place it is shaped). */
export const tunnelView = (a: { tunnelConnected: boolean; tunnelSince: Date | null; tunnelSourceIp: string | null; remotePort: number | null }): AgentTunnel => ({
  connected: a.tunnelConnected,
  since: a.tunnelSince?.toISOString() ?? null,
  source_ip: a.tunnelSourceIp,
  remote_port: a.remotePort,
});

/**
 * The agent's reverse forward: its port (allocated on first need, kept
 * after), or null when no target is configured or the range is exhausted.
 * Exhaustion does not fail the caller: it is logged, audited and counted.
 */
export const remoteForwardFor = async (
  tx: Executor,
  deps: Pick<Deps, 'config' | 'logger' | 'clock' | 'metrics'>,
  agent: { agentId: string; siteCode: string },
  client: Client | null,
): Promise<{ listen: string; to: string } | null> => {
  const ep = deps.config.sshEndpoint;
  if (!ep?.remoteTarget) return null;
  const port = await ensureRemotePort(tx, agent.agentId, ep.remotePorts);
  if (port === null) {
    deps.logger.warn('no free reverse tunnel port: credentials issued without a reverse forward', {
      agent_id: agent.agentId,
      range: `${ep.remotePorts.first}-${ep.remotePorts.last}`,
    });
    await recordAudit(tx, deps, client, {
      eventType: 'tunnel.remote_ports_exhausted',
      actor: 'system',
      siteCode: agent.siteCode,
      agentId: agent.agentId,
      details: { range: `${ep.remotePorts.first}-${ep.remotePorts.last}` },
    });
    return null;
  }
  return { listen: `127.0.0.1:${port}`, to: ep.remoteTarget };
};

/**
 * Brings the recorded state of these agents in line with the live sessions,
 * writing one audit row per agent whose state changed. The caller's
 * transaction holds the session changes; the agents' rows are locked here.
 */
const settle = async (tx: Executor, deps: Deps, agentIds: string[], cause: string): Promise<void> => {
  const now = deps.clock.now();
  for (const a of await lockAgentTunnels(tx, agentIds, now)) {
    const connected = a.live !== null;
    if (connected === a.tunnelConnected) continue;
    const since = a.live?.openedAt ?? now;
    await setAgentTunnelState(tx, a.id, { connected, since, sourceIp: a.live?.sourceIp ?? null });
    await recordAudit(tx, deps, a.live ? { ip: a.live.sourceIp, userAgent: null, requestId: '' } : null, {
      eventType: connected ? 'tunnel.connected' : 'tunnel.disconnected',
      actor: 'system',
      siteCode: a.siteCode,
      agentId: a.id,
      details: { source_ip: a.live?.sourceIp ?? null, remote_port: a.remotePort, endpoint: a.live?.endpoint ?? cause },
    });
  }
};

export interface SessionReport {
  endpoint: string;
  leaseSeconds: number;
  sessions: ReportedSession[];
}

/** An endpoint's report: renews its lease and replaces its session list, in one transaction. */
export const reportTunnelSessions = async (deps: Deps, r: SessionReport, _actor: Actor, client: Client): Promise<{ connected: number }> =>
  deps.db.transaction(async (tx) => {
    await renewLease(tx, r.endpoint, deps.clock.now(), r.leaseSeconds, client.ip);
    const changed = await replaceSessions(tx, r.endpoint, r.sessions);
    await settle(tx, deps, changed, r.endpoint);
    return { connected: new Set(r.sessions.map((s) => s.agentId)).size };
  });

/** Ends the sessions of endpoints whose lease ran out; returns how many endpoints it took. Safe on several replicas. */
export const reapExpiredEndpoints = async (deps: Deps): Promise<number> =>
  deps.db.transaction(async (tx) => {
    const { endpoints, agentIds } = await takeExpiredEndpoints(tx, deps.clock.now());
    if (endpoints.length > 0) deps.logger.warn('tunnel endpoint lease expired: its sessions count as disconnected', { endpoints });
    await settle(tx, deps, agentIds, 'lease_expired');
    return endpoints.length;
  });

/** Runs the reaper every `everyMs` until stopped. */
export const startTunnelReaper = (deps: Deps, everyMs: number): (() => void) => {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reapExpiredEndpoints(deps)
      .catch((err: unknown) => deps.logger.warn('tunnel lease reaper failed', { reason: err instanceof Error ? err.message : 'unknown' }))
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
};
