import { type SitePolicy } from '@airlock/schema';
import { agents, sites, siteEnrollmentKeys, tenants } from '@airlock/schema/db';
import { and, asc, eq, gt, inArray, isNotNull, isNull, max, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { tenantInScope, type Scope } from './scope.ts';

export type SiteRow = typeof sites.$inferSelect;
export type EnrollmentKeyRow = typeof siteEnrollmentKeys.$inferSelect;

/** Returns null when the code is taken (the unique key decides, not a prior read). */
export const insertSite = async (
  db: Executor,
  s: { code: string; name: string; policy: SitePolicy; tenantCode: string; allowedCidrs: string[]; createdBy: string; createdAt: Date },
): Promise<SiteRow | null> => {
  const rows = await db.insert(sites).values(s).onConflictDoNothing().returning();
  return rows[0] ?? null;
};

/** One page of sites by code (keyset: codes after `afterCode`), in scope. */
export const listSites = (db: Executor, scope: Scope, page: { limit: number; afterCode?: string; tenantCode?: string }) =>
  db
    .select()
    .from(sites)
    .where(
      and(
        tenantInScope(scope, sites.tenantCode),
        page.tenantCode ? eq(sites.tenantCode, page.tenantCode) : undefined,
        page.afterCode ? gt(sites.code, page.afterCode) : undefined,
      ),
    )
    .orderBy(asc(sites.code))
    .limit(page.limit);

/** A site in scope; another tenant's site is not found. */
export const getSite = async (db: Executor, code: string, scope: Scope): Promise<SiteRow | null> =>
  (await db.select().from(sites).where(and(eq(sites.code, code), tenantInScope(scope, sites.tenantCode))))[0] ?? null;

/** Locks the site row (in scope) so two changes of one site take turns. */
export const lockSite = async (db: Executor, code: string, scope: Scope): Promise<SiteRow | null> =>
  (await db.select().from(sites).where(and(eq(sites.code, code), tenantInScope(scope, sites.tenantCode))).for('update'))[0] ?? null;

export const updateSite = async (db: Executor, code: string, patch: Partial<Pick<SiteRow, 'name' | 'policy' | 'allowedCidrs'>>) =>
  (await db.update(sites).set(patch).where(eq(sites.code, code)).returning())[0] ?? null;

export type TenantRow = typeof tenants.$inferSelect;

/** Null when the code is taken. */
export const insertTenant = async (db: Executor, t: { code: string; name: string; createdBy: string; createdAt: Date }): Promise<TenantRow | null> =>
  (await db.insert(tenants).values(t).onConflictDoNothing().returning())[0] ?? null;

export const listTenants = (db: Executor, scope: Scope) =>
  db.select().from(tenants).where(tenantInScope(scope, tenants.code)).orderBy(asc(tenants.code)).limit(1000);

export const getTenant = async (db: Executor, code: string, scope: Scope): Promise<TenantRow | null> =>
  (await db.select().from(tenants).where(and(eq(tenants.code, code), tenantInScope(scope, tenants.code))))[0] ?? null;

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
export const latestRevocationBySite = async (db: Executor, siteCodes: readonly string[]): Promise<{ siteCode: string; revokedAt: Date }[]> =>
  siteCodes.length === 0 ? [] : (
    await db
      .select({ siteCode: agents.siteCode, revokedAt: max(agents.revokedAt) })
      .from(agents)
      .where(and(inArray(agents.siteCode, [...siteCodes]), isNotNull(agents.revokedAt)))
      .groupBy(agents.siteCode)
  ).flatMap((r) => (r.revokedAt ? [{ siteCode: r.siteCode, revokedAt: r.revokedAt }] : []));
