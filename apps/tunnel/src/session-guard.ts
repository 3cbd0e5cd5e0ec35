/**
 * The revocation poll, default-deny (issue 18, finding 1). Each round lists
 * every post-auth session of our endpoint from /proc and keeps only those
 * the keys service authorised and whose agents are all still active; every
 * other session (no record, too many records, any agent not active) loses
 * its monitor and its child. Opened and closed events come from the same
 * list, never from sshd's log.
 *
 * A monitor may hold several authorisations: a client can offer other
 * agents' public keys (public keys are not secret) before authenticating
 * with its own. The session is treated as all of them. That only ever cuts
 * more: an attacker who offers a victim's key is cut when the victim is
 * revoked, and cannot shield its own session, because the key it
 * authenticated with is in the set too.
 */
import type { TunnelApi } from './api.ts';
import { agentsOf, authenticatedBy, type AuthorisationBook } from './authorisations.ts';
import type { TunnelConfig } from './env.ts';
import type { LogFn, Reporter } from './events.ts';
import { endProcesses, readProc, type ProcRef } from './procfs.ts';
import { enumerateSessions, sshdOnOurPort, type Session } from './sessions.ts';

interface Tracked {
  /** Every agent the monitor was authorised for. */
  agentIds: string[];
  /** The key that authenticated and its agents (what `tunnel.opened` names). */
  fingerprint: string;
  openedFor: string[];
  sourceIp: string;
  port: number;
  openedAt: Date;
}

/** One live session as the api's session report lists it (one entry per agent it was opened for). */
export interface LiveSession {
  session: string;
  agent_id: string;
  source_ip: string;
  opened_at: string;
}

export interface SessionGuard {
  poll(): Promise<void>;
  /** Ends every session and pre-auth connection of our endpoint (stop, or leftovers of a hard death). */
  endAll(reason: string): Promise<number>;
  /** Live sessions the guard has reported opened. */
  readonly open: number;
  /** The sessions held now, for the api's live state (live-state.ts). */
  snapshot(): LiveSession[];
}

const procsOf = (s: Session): ProcRef[] => (s.monitor ? [s.monitor, s.child] : [s.child]);
const isAlive = async (p: ProcRef) => (await readProc(p.pid))?.start === p.start;

export const createSessionGuard = (o: {
  config: Pick<TunnelConfig, 'host' | 'port'>;
  tunnelUid: number;
  api: TunnelApi;
  book: AuthorisationBook;
  reporter: Reporter;
  log: LogFn;
}): SessionGuard => {
  const { api, book, reporter, log } = o;
  const c = reporter.counters;
  const tracked = new Map<string, Tracked>();

  const closed = async (key: string, reason: string) => {
    const t = tracked.get(key);
    if (!t) return;
    tracked.delete(key);
    c.sessions_closed++;
    reporter.closedByReason[reason] = (reporter.closedByReason[reason] ?? 0) + 1;
    log('info', 'tunnel closed', { agent_id: t.openedFor[0] ?? null, source_ip: t.sourceIp, reason });
    for (const agentId of t.openedFor) {
      await reporter.report({ event: 'closed', fingerprint: t.fingerprint, agent_id: agentId, source_ip: t.sourceIp, source_port: t.port, reason });
    }
  };

  const cut = async (s: Session, reason: 'revoked' | 'unidentified', agentIds: string[], fingerprint: string | null) => {
    await endProcesses(procsOf(s));
    if (reason === 'revoked') c.sessions_cut_revoked++;
    else c.sessions_cut_unidentified++;
    log(reason === 'revoked' ? 'info' : 'warn', 'tunnel cut', { reason, agent_ids: agentIds, peer_port: s.peer.port });
    if (tracked.has(s.key)) await closed(s.key, reason);
    // Cut before it was ever reported open (revoked in between): audited as a refusal, bounded per agent.
    else if (reason === 'revoked' && fingerprint) await reporter.deniedKnown(agentIds, fingerprint, s.peer, 'revoked');
  };

  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const sessions = await enumerateSessions({ host: o.config.host, port: o.config.port, tunnelUid: o.tunnelUid });
      await book.prune(isAlive);
      const present = new Set(sessions.map((s) => s.key));
      for (const key of [...tracked.keys()]) if (!present.has(key)) await closed(key, 'disconnected');

      const candidates: Array<{ s: Session; agentIds: string[]; fingerprint: string; openedFor: string[] }> = [];
      const cuts: Array<Promise<void>> = [];
      for (const s of sessions) {
        const t = tracked.get(s.key);
        if (t) {
          candidates.push({ s, agentIds: t.agentIds, fingerprint: t.fingerprint, openedFor: t.openedFor });
          continue;
        }
        const record = s.monitor ? book.get(s.monitor) : null;
        const last = record ? authenticatedBy(record) : null;
        // Default deny: a session nobody authorised (or authorised too often to make sense of) does not stay.
        if (!record || record.overflow || !last) cuts.push(cut(s, 'unidentified', [], null));
        else candidates.push({ s, agentIds: agentsOf(record), fingerprint: last.fingerprint, openedFor: last.agentIds });
      }

      const ids = [...new Set(candidates.flatMap((x) => x.agentIds))];
      let active: Set<string> | null = new Set();
      if (ids.length > 0) {
        try {
          active = await api.activeAgents(ids);
        } catch (err) {
          // Open tunnels stay while the api is away; new logins are refused meanwhile (fail closed).
          log('warn', 'revocation check failed; open tunnels kept', { reason: err instanceof Error ? err.message : 'unknown' });
          active = null;
        }
      }
      const keep: typeof candidates = [];
      for (const x of candidates) {
        const inactive = active === null ? [] : x.agentIds.filter((id) => !active.has(id));
        if (inactive.length > 0) cuts.push(cut(x.s, 'revoked', inactive, x.fingerprint));
        else keep.push(x);
      }
      await Promise.all(cuts);

      for (const x of keep) {
        if (tracked.has(x.s.key)) continue;
        const sourceIp = await reporter.sourceIpOf(x.s.peer);
        tracked.set(x.s.key, { agentIds: x.agentIds, fingerprint: x.fingerprint, openedFor: x.openedFor, sourceIp, port: x.s.peer.port, openedAt: new Date() });
        c.sessions_opened++;
        log('info', 'tunnel opened', { agent_id: x.openedFor[0] ?? null, source_ip: sourceIp, fingerprint: x.fingerprint });
        for (const agentId of x.openedFor) {
          await reporter.report({ event: 'opened', fingerprint: x.fingerprint, agent_id: agentId, source_ip: sourceIp, source_port: x.s.peer.port });
        }
      }
    } finally {
      polling = false;
    }
  };

  const endAll = async (reason: string) => {
    const procs = await sshdOnOurPort(o.config);
    await endProcesses(procs);
    for (const key of [...tracked.keys()]) await closed(key, reason);
    return procs.length;
  };

  return {
    poll,
    endAll,
    get open() {
      return tracked.size;
    },
    snapshot: () =>
      [...tracked].flatMap(([key, t]) =>
        t.openedFor.map((agentId) => ({ session: key, agent_id: agentId, source_ip: t.sourceIp, opened_at: t.openedAt.toISOString() })),
      ),
  };
};
