/** Console sessions and the sign-in throttle's count. SQL only; the rules live in domain/console-sessions.ts. */
import { type OperatorRole } from '@airlock/schema';
import { auditEvents, operators, operatorSessions } from '@airlock/schema/db';
import { and, count, eq, gt, isNull, min, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export interface SessionRow {
  id: string;
  operatorId: string;
  operatorName: string;
  role: OperatorRole;
  tenantCode: string | null;
  createdAt: Date;
  lastSeenAt: Date;
}

export const insertSession = async (
  db: Executor,
  s: { operatorId: string; tokenDigest: string; now: Date },
): Promise<string> => {
  const [row] = await db
    .insert(operatorSessions)
    .values({ operatorId: s.operatorId, tokenDigest: s.tokenDigest, createdAt: s.now, lastSeenAt: s.now })
    .returning({ id: operatorSessions.id });
  if (!row) throw new Error('insert returned no row');
  return row.id;
};

/** A live (not ended) session of an enabled operator, by token digest; timeouts are the domain's to judge. */
export const findLiveSession = async (db: Executor, tokenDigest: string): Promise<SessionRow | null> =>
  (
    await db
      .select({
        id: operatorSessions.id,
        operatorId: operatorSessions.operatorId,
        operatorName: operators.name,
        role: operators.role,
        tenantCode: operators.tenantCode,
        createdAt: operatorSessions.createdAt,
        lastSeenAt: operatorSessions.lastSeenAt,
      })
      .from(operatorSessions)
      .innerJoin(operators, eq(operators.id, operatorSessions.operatorId))
      .where(and(eq(operatorSessions.tokenDigest, tokenDigest), isNull(operatorSessions.endedAt), isNull(operators.disabledAt)))
  )[0] ?? null;

export const touchSession = async (db: Executor, id: string, now: Date): Promise<void> => {
  await db.update(operatorSessions).set({ lastSeenAt: now }).where(and(eq(operatorSessions.id, id), isNull(operatorSessions.endedAt)));
};

/** Ends one session; false when it had already ended (a second sign-out, a race with a timeout). */
export const endSession = async (db: Executor, id: string, reason: string, now: Date): Promise<boolean> =>
  (
    await db
      .update(operatorSessions)
      .set({ endedAt: now, endReason: reason })
      .where(and(eq(operatorSessions.id, id), isNull(operatorSessions.endedAt)))
      .returning({ id: operatorSessions.id })
  ).length > 0;

/** Ends every live session of an operator (disabled, password changed); returns how many. */
export const endSessionsOfOperator = async (db: Executor, operatorId: string, reason: string, now: Date): Promise<number> =>
  (
    await db
      .update(operatorSessions)
      .set({ endedAt: now, endReason: reason })
      .where(and(eq(operatorSessions.operatorId, operatorId), isNull(operatorSessions.endedAt)))
      .returning({ id: operatorSessions.id })
  ).length;

/** The operator a sign-in names, with its password hash (null: no password set). */
export const findOperatorForSignIn = async (db: Executor, name: string) =>
  (
    await db
      .select({
        id: operators.id,
        name: operators.name,
        role: operators.role,
        tenantCode: operators.tenantCode,
        passwordHash: operators.passwordHash,
        disabledAt: operators.disabledAt,
      })
      .from(operators)
      .where(eq(operators.name, name))
  )[0] ?? null;

/** Sets the hash; with `now`, also clears the sign-in failures counted so far (an admin vouched for the new password). */
export const setPasswordHash = async (db: Executor, name: string, passwordHash: string, now?: Date) =>
  (
    await db
      .update(operators)
      .set({ passwordHash, ...(now ? { signInClearedAt: now } : {}) })
      .where(and(eq(operators.name, name), isNull(operators.disabledAt)))
      .returning({ id: operators.id, name: operators.name, role: operators.role })
  )[0] ?? null;

/**
 * Serialises sign-ins per operator name for the rest of the transaction, so
 * concurrent guesses (from one address or many) cannot all read the same
 * failure counts.
 */
export const lockSignInKey = async (db: Executor, operatorName: string): Promise<void> => {
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`console-sign-in:${operatorName}`}, 0))`);
};

export interface FailureCount {
  count: number;
  /** The oldest counted failure (for the wait), null when none. */
  oldest: Date | null;
}

/**
 * Failed sign-ins naming `operatorName` since `since`, or since an admin last
 * cleared them if later: from `ip`, and from any address. One statement; the
 * per-operator index (migration 0007) bounds it by that operator's failures.
 */
export const countSignInFailures = async (
  db: Executor,
  operatorName: string,
  ip: string,
  since: Date,
): Promise<{ byAddress: FailureCount; byOperator: FailureCount }> => {
  const cleared = db.select({ at: operators.signInClearedAt }).from(operators).where(eq(operators.name, operatorName));
  const fromIp = sql`${auditEvents.sourceIp} = ${ip}`;
  const [row] = await db
    .select({
      total: count(),
      oldest: min(auditEvents.occurredAt),
      fromIp: sql<number>`count(*) filter (where ${fromIp})`.mapWith(Number),
      oldestFromIp: sql<Date | null>`min(${auditEvents.occurredAt}) filter (where ${fromIp})`.mapWith(auditEvents.occurredAt),
    })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.eventType, 'operator.login_failed'),
        sql`(${auditEvents.details}->>'operator') = ${operatorName}`,
        gt(auditEvents.occurredAt, since),
        // Failures from the clearing instant on count (a frozen test clock puts both at the same instant).
        sql`${auditEvents.occurredAt} >= coalesce((${cleared}), '-infinity'::timestamptz)`,
      ),
    );
  return {
    byAddress: { count: row?.fromIp ?? 0, oldest: row?.oldestFromIp ?? null },
    byOperator: { count: row?.total ?? 0, oldest: row?.oldest ?? null },
  };
};

/** Clears an operator's sign-in failures (an admin lifts a lockout); null when no such operator. */
export const clearSignInFailures = async (db: Executor, name: string, now: Date) =>
  (
    await db
      .update(operators)
      .set({ signInClearedAt: now })
      .where(eq(operators.name, name))
      .returning({ name: operators.name, role: operators.role })
  )[0] ?? null;
