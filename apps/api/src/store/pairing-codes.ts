import type { PairingCodeStatus } from '@airlock/schema';
import { pairingCodes } from '@airlock/schema/db';
import { and, desc, eq, gt, isNotNull, isNull, lte, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

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

export const listPairingCodes = (db: Executor, status: PairingCodeStatus | undefined, now: Date) =>
  db
    .select()
    .from(pairingCodes)
    .where(status ? statusCondition(status, now) : undefined)
    .orderBy(desc(pairingCodes.createdAt))
    .limit(500);

/** Revokes an unused, unrevoked code; null when there is no such code to revoke. */
export const revokePairingCode = async (db: Executor, id: string, by: string, now: Date) =>
  (
    await db
      .update(pairingCodes)
      .set({ revokedAt: now, revokedBy: by })
      .where(and(eq(pairingCodes.id, id), isNull(pairingCodes.usedAt), isNull(pairingCodes.revokedAt)))
      .returning()
  )[0] ?? null;

export const getPairingCode = async (db: Executor, id: string) =>
  (await db.select().from(pairingCodes).where(eq(pairingCodes.id, id)))[0] ?? null;
