/** SQL for the tunnel endpoint: key lookups by fingerprint, host keys, liveness. */
import { agents, tunnelHostKeys } from '@airlock/schema';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

/** Active agents holding this key fingerprint: one indexed query (agents_fingerprint_idx). */
export const activeAgentsByFingerprint = (db: Executor, fingerprint: string) =>
  db
    .select({ id: agents.id, siteCode: agents.siteCode, publicKey: agents.publicKey })
    .from(agents)
    .where(and(eq(agents.fingerprint, fingerprint), eq(agents.status, 'active')))
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

/** Marks a tunnel open: only an active agent holding this fingerprint moves, and is returned. */
export const touchAgentForTunnel = async (db: Executor, agentId: string, fingerprint: string, now: Date) =>
  (
    await db
      .update(agents)
      .set({ lastSeenAt: now })
      .where(and(eq(agents.id, agentId), eq(agents.fingerprint, fingerprint)))
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

export const upsertHostKeys = async (db: Executor, keys: string[], by: string, now: Date): Promise<void> => {
  await db
    .insert(tunnelHostKeys)
    .values(keys.map((publicKey) => ({ publicKey, registeredBy: by, registeredAt: now, lastSeenAt: now })))
    .onConflictDoUpdate({ target: tunnelHostKeys.publicKey, set: { lastSeenAt: now } });
};

export const listHostKeys = async (db: Executor): Promise<string[]> =>
  (await db.select({ k: tunnelHostKeys.publicKey }).from(tunnelHostKeys).orderBy(asc(tunnelHostKeys.registeredAt), asc(tunnelHostKeys.publicKey))).map(
    (r) => r.k,
  );
