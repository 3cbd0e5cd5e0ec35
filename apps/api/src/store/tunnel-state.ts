/**
 * SQL of issue 21: each agent's reverse port, and live tunnel state (the
 * sessions each endpoint reports, counted while its lease is live).
 */
import { agents, tunnelEndpoints, tunnelSessions } from '@airlock/schema/db';
import { and, eq, inArray, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

const isUniqueViolation = (err: unknown): boolean => {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if ((e as { code?: unknown }).code === '23505') return true;
  return false;
};

/**
 * Gives an active agent that has no port one free port of the range, in one
 * statement. Two allocations that pick the same port cannot both commit
 * (agents_remote_port_idx): the loser's savepoint rolls back and it picks
 * again. The search starts at a random port to keep collisions rare.
 * Returns the agent's port (old or new), or null when the range is full.
 */
export const ensureRemotePort = async (db: Executor, agentId: string, range: { first: number; last: number }): Promise<number | null> => {
  for (let attempt = 0; attempt < 16; attempt++) {
    const start = range.first + Math.floor(Math.random() * (range.last - range.first + 1));
    const free = (lo: number, hi: number) =>
      sql`(select p from generate_series(${lo}::int, ${hi}::int) p where not exists (select 1 from ${agents} a where a.remote_port = p) limit 1)`;
    try {
      const port = await db.transaction(async (sp) => {
        const rows = await sp
          .update(agents)
          .set({ remotePort: sql`coalesce(${free(start, range.last)}, ${free(range.first, start)})` })
          .where(and(eq(agents.id, agentId), isNull(agents.remotePort), eq(agents.status, 'active')))
          .returning({ port: agents.remotePort });
        if (rows.length > 0) return rows[0]?.port ?? null;
        // Already has one (kept across renewals and key rotation), or not active.
        return (await sp.select({ port: agents.remotePort }).from(agents).where(eq(agents.id, agentId)))[0]?.port ?? null;
      });
      return port;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  return null;
};

// ---- live state -----------------------------------------------------------------

export interface ReportedSession {
  session: string;
  agentId: string;
  sourceIp: string;
  openedAt: Date;
}

/** Renews (or starts) an endpoint's lease; true when it had none live (new endpoint, or one whose lease ran out). */
export const renewLease = async (db: Executor, endpoint: string, now: Date, leaseSeconds: number, reportedFrom: string): Promise<boolean> => {
  const rows = await db.execute<{ was_live: boolean }>(sql`
    with before as (select lease_expires_at > ${now.toISOString()}::timestamptz as live from ${tunnelEndpoints} where endpoint = ${endpoint} for update)
    insert into ${tunnelEndpoints} (endpoint, lease_expires_at, renewed_at, reported_from)
    values (${endpoint}, ${new Date(now.getTime() + leaseSeconds * 1000).toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${reportedFrom})
    on conflict (endpoint) do update set lease_expires_at = excluded.lease_expires_at, renewed_at = excluded.renewed_at, reported_from = excluded.reported_from
    returning coalesce((select live from before), false) as was_live`);
  return rows[0]?.was_live !== true;
};

/** Replaces an endpoint's session list with its report; returns the agents whose rows changed. */
export const replaceSessions = async (db: Executor, endpoint: string, sessions: ReportedSession[]): Promise<string[]> => {
  const gone = await db.delete(tunnelSessions).where(eq(tunnelSessions.endpoint, endpoint)).returning({ agentId: tunnelSessions.agentId, session: tunnelSessions.session });
  if (sessions.length > 0) {
    // Only agents that exist: a row for an unknown id would fail the foreign key and lose the whole report.
    const known = new Set(
      (await db.select({ id: agents.id }).from(agents).where(inArray(agents.id, [...new Set(sessions.map((s) => s.agentId))]))).map((r) => r.id),
    );
    const rows = sessions.filter((s) => known.has(s.agentId)).map((s) => ({ endpoint, ...s }));
    if (rows.length > 0) await db.insert(tunnelSessions).values(rows).onConflictDoNothing();
  }
  const before = new Set(gone.map((g) => `${g.session}|${g.agentId}`));
  const after = new Set(sessions.map((s) => `${s.session}|${s.agentId}`));
  const changed = new Set<string>();
  for (const g of gone) if (!after.has(`${g.session}|${g.agentId}`)) changed.add(g.agentId);
  for (const s of sessions) if (!before.has(`${s.session}|${s.agentId}`)) changed.add(s.agentId);
  return [...changed];
};

/** Endpoints whose lease ran out, locked for this transaction (another api replica skips them); their sessions' agents. */
export const takeExpiredEndpoints = async (db: Executor, now: Date, limit = 100): Promise<{ endpoints: string[]; agentIds: string[] }> => {
  const rows = await db
    .select({ endpoint: tunnelEndpoints.endpoint })
    .from(tunnelEndpoints)
    .where(lt(tunnelEndpoints.leaseExpiresAt, now))
    .limit(limit)
    .for('update', { skipLocked: true });
  const endpoints = rows.map((r) => r.endpoint);
  if (endpoints.length === 0) return { endpoints, agentIds: [] };
  const gone = await db.delete(tunnelSessions).where(inArray(tunnelSessions.endpoint, endpoints)).returning({ agentId: tunnelSessions.agentId });
  await db.delete(tunnelEndpoints).where(inArray(tunnelEndpoints.endpoint, endpoints));
  return { endpoints, agentIds: [...new Set(gone.map((g) => g.agentId))] };
};

export interface AgentTunnelRow {
  id: string;
  siteCode: string;
  tunnelConnected: boolean;
  remotePort: number | null;
  /** The earliest live session, when there is one. */
  live: { openedAt: Date; sourceIp: string; endpoint: string } | null;
}

/**
 * Locks these agents' rows (in id order: two reports touching the same agents
 * cannot deadlock) and reads, for each, its recorded state and its earliest
 * session held by an endpoint whose lease is live.
 */
export const lockAgentTunnels = async (db: Executor, agentIds: string[], now: Date): Promise<AgentTunnelRow[]> => {
  if (agentIds.length === 0) return [];
  const rows = await db.execute<{ id: string; site_code: string; tunnel_connected: boolean; remote_port: number | null; opened_at: string | null; source_ip: string | null; endpoint: string | null }>(sql`
    with locked as (
      select id, site_code, tunnel_connected, remote_port from ${agents}
      where id in (${sql.join(agentIds.map((id) => sql`${id}::uuid`), sql`, `)})
      order by id for update
    )
    select l.*, s.opened_at, s.source_ip, s.endpoint from locked l
    left join lateral (
      select ts.opened_at, ts.source_ip, ts.endpoint from ${tunnelSessions} ts
      join ${tunnelEndpoints} te on te.endpoint = ts.endpoint and te.lease_expires_at > ${now.toISOString()}::timestamptz
      where ts.agent_id = l.id order by ts.opened_at limit 1
    ) s on true`);
  return rows.map((r) => ({
    id: r.id,
    siteCode: r.site_code,
    tunnelConnected: r.tunnel_connected,
    remotePort: r.remote_port,
    live: r.opened_at && r.source_ip && r.endpoint ? { openedAt: new Date(r.opened_at), sourceIp: r.source_ip, endpoint: r.endpoint } : null,
  }));
};

export const setAgentTunnelState = async (db: Executor, agentId: string, s: { connected: boolean; since: Date; sourceIp: string | null }): Promise<void> => {
  await db
    .update(agents)
    .set({ tunnelConnected: s.connected, tunnelSince: s.since, ...(s.sourceIp !== null ? { tunnelSourceIp: s.sourceIp } : {}) })
    .where(eq(agents.id, agentId));
};

/**
 * The agent list's `tunnel=connected|disconnected` filter, as one SQL
 * fragment any agent query can add to its WHERE (the paged list included).
 */
export const tunnelFilter = (state: 'connected' | 'disconnected'): SQL => eq(agents.tunnelConnected, state === 'connected');
