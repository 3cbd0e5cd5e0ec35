import { type AgentStatus } from '@airlock/schema';
import { agentKeys, agents, enrollments } from '@airlock/schema/db';
import { and, desc, eq, inArray, isNull, ne, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export type AgentRow = typeof agents.$inferSelect;

export const lockAgent = async (db: Executor, id: string): Promise<AgentRow | null> =>
  (await db.select().from(agents).where(eq(agents.id, id)).for('update'))[0] ?? null;

export const getAgentsByMachineUids = async (db: Executor, machineUids: readonly string[]): Promise<AgentRow[]> =>
  machineUids.length === 0 ? [] : db.select().from(agents).where(inArray(agents.machineUid, [...new Set(machineUids)]));

/**
 * Frees a machine_uid held by a revoked agent of another site, so the machine
 * can enroll where an operator moved it. The old row and its history stay.
 */
export const releaseRevokedMachineUid = async (db: Executor, machineUid: string, siteCode: string) =>
  (
    await db
      .update(agents)
      .set({ machineUid: null })
      .where(and(eq(agents.machineUid, machineUid), eq(agents.status, 'revoked'), ne(agents.siteCode, siteCode)))
      .returning({ id: agents.id, siteCode: agents.siteCode })
  )[0] ?? null;

export interface AgentFromEnrollment {
  siteCode: string;
  enrollmentId: string;
  publicKey: string;
  fingerprint: string;
  hostname: string;
  machineUid: string | null;
  createdBy: string;
  now: Date;
}

/**
 * Creates the agent, or for a known machine_uid of the same site takes over
 * its row with the new key: one statement, so concurrent first enrollments of
 * one machine converge on one row. Null when the uid belongs to another site.
 */
export const upsertAgentForEnrollment = async (db: Executor, a: AgentFromEnrollment): Promise<AgentRow | null> =>
  (await agentUpsert(db, a))[0] ?? null;

/**
 * The upsert itself, unsent: awaited by upsertAgentForEnrollment, and
 * embedded by a store statement that approves in one round trip
 * (enrollments.ts approveVerifiedEnrollment), so both take over a row alike.
 */
export const agentUpsert = (db: Executor, a: AgentFromEnrollment) => {
  const values = {
    siteCode: a.siteCode,
    enrollmentId: a.enrollmentId,
    publicKey: a.publicKey,
    fingerprint: a.fingerprint,
    hostname: a.hostname,
    machineUid: a.machineUid,
    status: 'active' as const,
    createdAt: a.now,
    createdBy: a.createdBy,
    lastSeenAt: a.now,
  };
  if (a.machineUid === null) return db.insert(agents).values(values).returning();
  return db
    .insert(agents)
    .values(values)
    .onConflictDoUpdate({
      target: agents.machineUid,
      set: {
        enrollmentId: a.enrollmentId,
        publicKey: a.publicKey,
        fingerprint: a.fingerprint,
        hostname: a.hostname,
        status: 'active',
        revokedAt: null,
        revokedBy: null,
        revokeReason: null,
        lastSeenAt: a.now,
      },
      setWhere: eq(agents.siteCode, a.siteCode),
    })
    .returning();
};

export const listAgents = (db: Executor, status: AgentStatus | undefined, tunnel?: SQL) =>
  db
    .select()
    .from(agents)
    .where(and(status ? eq(agents.status, status) : undefined, tunnel))
    .orderBy(desc(agents.createdAt))
    .limit(500);

/**
 * Row-locks the enrollments approved for this agent whose credentials were
 * never collected. Taken BEFORE the agent row: the status read locks its
 * enrollment first and the agent (key share, through agent_keys' foreign key)
 * second, so revocation takes the same order and the two cannot deadlock.
 */
export const lockUncollectedEnrollments = (db: Executor, agentId: string) =>
  db
    .select({ id: enrollments.id })
    .from(enrollments)
    .where(and(eq(enrollments.agentId, agentId), eq(enrollments.status, 'approved'), isNull(enrollments.credentialsIssuedAt)))
    .for('update');

/** Cancels approved-but-uncollected credentials of a revoked agent: they become rejected, so no later approval revives them (#8.5). */
export const cancelUncollectedEnrollments = async (db: Executor, agentId: string, by: string, reason: string, now: Date) =>
  (
    await db
      .update(enrollments)
      .set({ status: 'rejected', rejectReason: reason, decidedBy: by, decidedAt: now, updatedAt: now })
      .where(and(eq(enrollments.agentId, agentId), eq(enrollments.status, 'approved'), isNull(enrollments.credentialsIssuedAt)))
      .returning({ id: enrollments.id })
  ).map((r) => r.id);

export const revokeAgent = async (db: Executor, id: string, by: string, reason: string | null, now: Date) => {
  await db
    .update(agents)
    // Its reverse port is freed with it (issue 21): the endpoint refuses its key from now on anyway.
    .set({ status: 'revoked', revokedAt: now, revokedBy: by, revokeReason: reason, remotePort: null })
    .where(eq(agents.id, id));
  return revokeAgentKeys(db, id, now);
};

export const revokeAgentKeys = async (db: Executor, agentId: string, now: Date): Promise<number> =>
  (await agentKeysRevocation(db, agentId, now)).length;

/** Every live key of the agent revoked, unsent (returning their ids): see agentUpsert. */
export const agentKeysRevocation = (db: Executor, agentId: string, now: Date) =>
  db
    .update(agentKeys)
    .set({ revokedAt: now })
    .where(and(eq(agentKeys.agentId, agentId), isNull(agentKeys.revokedAt)))
    .returning({ id: agentKeys.id });

export const insertAgentKey = async (db: Executor, k: typeof agentKeys.$inferInsert): Promise<void> => {
  await agentKeyInsert(db, k);
};

/** The new key's row, unsent: see agentUpsert. */
export const agentKeyInsert = (db: Executor, k: typeof agentKeys.$inferInsert) => db.insert(agentKeys).values(k);

/** Looks an agent key up by digest; marks it used and its agent seen, only while both are live. */
export const touchLiveAgentKey = async (db: Executor, digest: string, now: Date) => {
  const rows = await db
    .update(agentKeys)
    .set({ lastUsedAt: now })
    .where(
      and(
        eq(agentKeys.digest, digest),
        isNull(agentKeys.revokedAt),
        sql`exists (select 1 from ${agents} where ${agents.id} = ${agentKeys.agentId} and ${agents.status} = 'active')`,
      ),
    )
    .returning({ agentId: agentKeys.agentId });
  const hit = rows[0];
  if (!hit) return null;
  const agent = (
    await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, hit.agentId)).returning()
  )[0];
  return agent ?? null;
};

/** v1.1: an agent proved its key on the agent routes. */
export const markAgentSeen = async (db: Executor, id: string, now: Date): Promise<void> => {
  await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, id));
};
