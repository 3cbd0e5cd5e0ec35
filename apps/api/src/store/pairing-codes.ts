import type { PairingCodeStatus } from '@airlock/schema';
import { pairingCodes } from '@airlock/schema/db';
import { and, desc, eq, gt, isNotNull, isNull, lte, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { siteInScope, type Scope } from './scope.ts';
import { before, type TimeId } from './rows.ts';

export type PairingCodeRow = typeof pairingCodes.$inferSelect;
export type { PairingCodeStatus };

export const insertPairingCode = async (db: Executor, row: typeof pairingCodes.$inferInsert) =>
  (await db.insert(pairingCodes).values(row).returning())[0];

const statusCondition = (status: PairingCodeStatus, now: Date): SQL | undefined => {
  switch (status) {
    case 'active':
      return and(isNull(pairingCodes.usedAt), isNull(pairingCodes.revokedAt), gt(pairingCodes.expiresAt, now));
    case 'used':
      return isNotNull(pairingCodes.usedAt);
    case 'revoked':
      return isNotNull(pairingCodes.revokedAt);
    case 'expired':
      return and(isNull(pairingCodes.usedAt), isNull(pairingCodes.revokedAt), lte(pairingCodes.expiresAt, now));
  }
};

/** One page, newest first by (created_at, id), in scope. */
export const listPairingCodes = (
  db: Executor,
  scope: Scope,
  f: { status?: PairingCodeStatus; siteCode?: string; now: Date; limit: number; after?: TimeId },
) =>
  db
    .select()
    .from(pairingCodes)
    .where(
      and(
        siteInScope(scope, pairingCodes.siteCode),
        f.status ? statusCondition(f.status, f.now) : undefined,
        f.siteCode ? eq(pairingCodes.siteCode, f.siteCode) : undefined,
        before(pairingCodes.createdAt, pairingCodes.id, f.after),
      ),
    )
    .orderBy(desc(pairingCodes.createdAt), desc(pairingCodes.id))
    .limit(f.limit);

/** Revokes an unused, unrevoked code in scope; null when there is no such code to revoke. */
export const revokePairingCode = async (db: Executor, id: string, by: string, now: Date, scope: Scope) =>
  (
    await db
      .update(pairingCodes)
      .set({ revokedAt: now, revokedBy: by })
      .where(and(eq(pairingCodes.id, id), isNull(pairingCodes.usedAt), isNull(pairingCodes.revokedAt), siteInScope(scope, pairingCodes.siteCode)))
      .returning()
  )[0] ?? null;

export const getPairingCode = async (db: Executor, id: string, scope: Scope) =>
  (await db.select().from(pairingCodes).where(and(eq(pairingCodes.id, id), siteInScope(scope, pairingCodes.siteCode))))[0] ?? null;
