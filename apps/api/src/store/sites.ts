import { type SitePolicy } from '@airlock/schema';
import { agents, sites, siteEnrollmentKeys } from '@airlock/schema/db';
import { and, asc, eq, isNotNull, isNull, max, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export type SiteRow = typeof sites.$inferSelect;
export type EnrollmentKeyRow = typeof siteEnrollmentKeys.$inferSelect;

/** Returns null when the code is taken (the unique key decides, not a prior read). */
export const insertSite = async (
  db: Executor,
  s: { code: string; name: string; policy: SitePolicy; createdBy: string; createdAt: Date },
): Promise<SiteRow | null> => {
  const rows = await db.insert(sites).values(s).onConflictDoNothing().returning();
  return rows[0] ?? null;
};

export const listSites = (db: Executor) => db.select().from(sites).orderBy(asc(sites.code));

export const getSite = async (db: Executor, code: string): Promise<SiteRow | null> =>
  (await db.select().from(sites).where(eq(sites.code, code)))[0] ?? null;

/** Locks the site row so two rotations of one site take turns. */
export const lockSite = async (db: Executor, code: string): Promise<SiteRow | null> =>
  (await db.select().from(sites).where(eq(sites.code, code)).for('update'))[0] ?? null;

export const getActiveEnrollmentKey = async (db: Executor, siteCode: string): Promise<EnrollmentKeyRow | null> =>
  (
    await db
      .select()
      .from(siteEnrollmentKeys)
      .where(and(eq(siteEnrollmentKeys.siteCode, siteCode), isNull(siteEnrollmentKeys.revokedAt)))
  )[0] ?? null;

export const latestEnrollmentKeyVersion = async (db: Executor, siteCode: string): Promise<number> => {
  const rows = await db
    .select({ v: sql<number>`coalesce(max(${siteEnrollmentKeys.version}), 0)::int` })
    .from(siteEnrollmentKeys)
    .where(eq(siteEnrollmentKeys.siteCode, siteCode));
  return rows[0]?.v ?? 0;
};

export const revokeActiveEnrollmentKeys = async (db: Executor, siteCode: string, at: Date): Promise<number> => {
  const rows = await db
    .update(siteEnrollmentKeys)
    .set({ revokedAt: at })
    .where(and(eq(siteEnrollmentKeys.siteCode, siteCode), isNull(siteEnrollmentKeys.revokedAt)))
    .returning({ id: siteEnrollmentKeys.id });
  return rows.length;
};

export const insertEnrollmentKey = async (db: Executor, k: typeof siteEnrollmentKeys.$inferInsert) =>
  (await db.insert(siteEnrollmentKeys).values(k).returning())[0];

/** The latest revocation time of an agent, per site that has one. */
export const latestRevocationBySite = async (db: Executor): Promise<{ siteCode: string; revokedAt: Date }[]> =>
  (
    await db
      .select({ siteCode: agents.siteCode, revokedAt: max(agents.revokedAt) })
      .from(agents)
      .where(isNotNull(agents.revokedAt))
      .groupBy(agents.siteCode)
  ).flatMap((r) => (r.revokedAt ? [{ siteCode: r.siteCode, revokedAt: r.revokedAt }] : []));
