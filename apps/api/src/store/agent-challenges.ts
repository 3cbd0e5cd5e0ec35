import { agentChallenges, agents } from '@airlock/schema/db';
import { and, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export type AgentChallengeRow = typeof agentChallenges.$inferSelect;

export const insertAgentChallenge = async (db: Executor, row: typeof agentChallenges.$inferInsert): Promise<void> => {
  await db.insert(agentChallenges).values(row);
};

/** Drops a bounded batch of challenges long past their expiry, so the table stays small without a cron. */
export const purgeExpiredChallenges = async (db: Executor, before: Date, batch = 100): Promise<void> => {
  const old = db.select({ id: agentChallenges.id }).from(agentChallenges).where(lt(agentChallenges.expiresAt, before)).limit(batch);
  await db.delete(agentChallenges).where(inArray(agentChallenges.id, old));
};

/**
 * Marks a challenge used and returns it; null when it does not exist or was
 * already used. One conditional UPDATE: of concurrent answers exactly one gets
 * the row, and the challenge is spent whatever the proof turns out to be.
 */
export const consumeAgentChallenge = async (db: Executor, id: string, now: Date): Promise<AgentChallengeRow | null> =>
  (
    await db
      .update(agentChallenges)
      .set({ usedAt: now })
      .where(and(eq(agentChallenges.id, id), isNull(agentChallenges.usedAt)))
      .returning()
  )[0] ?? null;

/** The agent enrolled with this key: the newest live one, else the newest of any standing. */
export const findAgentByFingerprint = async (db: Executor, fingerprint: string) =>
  (
    await db
      .select()
      .from(agents)
      .where(eq(agents.fingerprint, fingerprint))
      .orderBy(sql`(${agents.status} = 'active') desc`, desc(agents.createdAt))
      .limit(1)
  )[0] ?? null;
