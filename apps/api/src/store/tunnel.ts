/** SQL for the tunnel endpoint: key lookups by fingerprint, host keys, liveness. */
import { agents, tunnelHostKeys } from '@airlock/schema/db';
import { and, asc, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

/**
 * Agents of any status holding this key fingerprint: one indexed query
 * (agents_fingerprint_idx). The domain keeps the active ones for sshd and
 * names the others, so the endpoint can tell a revoked agent's key from a
 * stranger's.
 */
export const agentsByFingerprint = (db: Executor, fingerprint: string, withPort: boolean) =>
  db
    .select({ id: agents.id, siteCode: agents.siteCode, publicKey: agents.publicKey, status: agents.status, remotePort: withPort ? agents.remotePort : sql<null>`null` })
    .from(agents)
    .where(eq(agents.fingerprint, fingerprint))
    .orderBy(sql`${agents.createdAt} desc`)
    .limit(8);

/** The most recent agent of any status holding this fingerprint, to name a refused key in the audit. */
export const latestAgentByFingerprint = async (db: Executor, fingerprint: string) =>
  (
    await db
      .select({ id: agents.id, siteCode: agents.siteCode, status: agents.status })
      .from(agents)
      .where(eq(agents.fingerprint, fingerprint))
      .orderBy(sql`${agents.createdAt} desc`)
      .limit(1)
  )[0] ?? null;

/**
 * Marks a tunnel open: only an ACTIVE agent holding this fingerprint moves
 * (issue 18, finding 12: a revoked agent's row must not look alive), and is returned.
 */
export const touchAgentForTunnel = async (db: Executor, agentId: string, fingerprint: string, now: Date) =>
  (
    await db
      .update(agents)
      .set({ lastSeenAt: now })
      .where(and(eq(agents.id, agentId), eq(agents.fingerprint, fingerprint), eq(agents.status, 'active')))
      .returning({ id: agents.id, siteCode: agents.siteCode, status: agents.status })
  )[0] ?? null;

export const agentForTunnel = async (db: Executor, agentId: string, fingerprint: string) =>
  (
    await db
      .select({ id: agents.id, siteCode: agents.siteCode, status: agents.status })
      .from(agents)
      .where(and(eq(agents.id, agentId), eq(agents.fingerprint, fingerprint)))
  )[0] ?? null;

export const activeAgentIds = async (db: Executor, ids: string[]): Promise<string[]> => {
  if (ids.length === 0) return [];
  const rows = await db
    .select({ id: agents.id })
    .from(agents)
    .where(and(inArray(agents.id, ids), eq(agents.status, 'active')));
  return rows.map((r) => r.id);
};

/** Of these keys, the ones an admin retired. */
export const retiredHostKeys = async (db: Executor, keys: string[]): Promise<string[]> =>
  (
    await db
      .select({ k: tunnelHostKeys.publicKey })
      .from(tunnelHostKeys)
      .where(and(inArray(tunnelHostKeys.publicKey, keys), isNotNull(tunnelHostKeys.retiredAt)))
  ).map((r) => r.k);

/**
 * Inserts the keys not seen before (returned: exactly one caller wins each
 * under concurrent registration) and moves `last_seen_at` of the others that
 * are still current.
 */
export const upsertHostKeys = async (db: Executor, keys: string[], by: string, now: Date): Promise<string[]> => {
  const added = await db
    .insert(tunnelHostKeys)
    .values(keys.map((publicKey) => ({ publicKey, registeredBy: by, registeredAt: now, lastSeenAt: now })))
    .onConflictDoNothing({ target: tunnelHostKeys.publicKey })
    .returning({ k: tunnelHostKeys.publicKey });
  const fresh = new Set(added.map((r) => r.k));
  const seen = keys.filter((k) => !fresh.has(k));
  if (seen.length > 0) {
    await db
      .update(tunnelHostKeys)
      .set({ lastSeenAt: now })
      .where(and(inArray(tunnelHostKeys.publicKey, seen), isNull(tunnelHostKeys.retiredAt)));
  }
  return [...fresh];
};

/** Current (not retired) host keys, for known_hosts. */
export const listHostKeys = async (db: Executor): Promise<string[]> =>
  (
    await db
      .select({ k: tunnelHostKeys.publicKey })
      .from(tunnelHostKeys)
      .where(isNull(tunnelHostKeys.retiredAt))
      .orderBy(asc(tunnelHostKeys.registeredAt), asc(tunnelHostKeys.publicKey))
  ).map((r) => r.k);

/** Every host key row, retired ones included, oldest first (a handful of rows: no paging). */
export const listAllHostKeys = (db: Executor) =>
  db.select().from(tunnelHostKeys).orderBy(asc(tunnelHostKeys.registeredAt), asc(tunnelHostKeys.publicKey)).limit(1000);

/** Retires one key if it is current; null when it is not there or already retired. */
export const retireHostKey = async (db: Executor, publicKey: string, by: string, now: Date) =>
  (
    await db
      .update(tunnelHostKeys)
      .set({ retiredAt: now, retiredBy: by })
      .where(and(eq(tunnelHostKeys.publicKey, publicKey), isNull(tunnelHostKeys.retiredAt)))
      .returning()
  )[0] ?? null;
