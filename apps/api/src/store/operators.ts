import { type OperatorRole } from '@airlock/schema';
import { operators, operatorSessions, operatorTokens } from '@airlock/schema/db';
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { tenantInScope, type Scope } from './scope.ts';

export interface Operator {
  id: string;
  name: string;
  role: OperatorRole;
  /** null: a global operator (issue 22). */
  tenantCode: string | null;
}
const OPERATOR = { id: operators.id, name: operators.name, role: operators.role, tenantCode: operators.tenantCode };

export const insertOperator = async (
  db: Executor,
  o: { name: string; role: OperatorRole; tenantCode: string | null; createdAt: Date },
): Promise<Operator | null> =>
  (
    await db
      .insert(operators)
      .values(o)
      .onConflictDoNothing()
      .returning(OPERATOR)
  )[0] ?? null;

export const insertOperatorToken = async (
  db: Executor,
  t: { operatorId: string; digest: string; start: string; createdAt: Date },
): Promise<void> => {
  await db.insert(operatorTokens).values(t);
};

export const findOperatorByTokenDigest = async (db: Executor, digest: string): Promise<Operator | null> =>
  (
    await db
      .select(OPERATOR)
      .from(operatorTokens)
      .innerJoin(operators, eq(operators.id, operatorTokens.operatorId))
      .where(and(eq(operatorTokens.digest, digest), isNull(operatorTokens.revokedAt), isNull(operators.disabledAt)))
  )[0] ?? null;

/** Disables an operator, revokes all its tokens and ends its console sessions; null when there is no such active operator. */
export const disableOperatorByName = async (db: Executor, name: string, now: Date): Promise<Operator | null> => {
  const op = (
    await db
      .update(operators)
      .set({ disabledAt: now })
      .where(and(eq(operators.name, name), isNull(operators.disabledAt)))
      .returning(OPERATOR)
  )[0];
  if (!op) return null;
  await db
    .update(operatorTokens)
    .set({ revokedAt: now })
    .where(and(eq(operatorTokens.operatorId, op.id), isNull(operatorTokens.revokedAt)));
  // Console sessions end in the same transaction: a disabled operator's open browser stops at once.
  await db
    .update(operatorSessions)
    .set({ endedAt: now, endReason: 'operator_disabled' })
    .where(and(eq(operatorSessions.operatorId, op.id), isNull(operatorSessions.endedAt)));
  return op;
};

export const operatorExists = async (db: Executor, name: string, scope: Scope): Promise<boolean> =>
  (await db.select({ id: operators.id }).from(operators).where(and(eq(operators.name, name), tenantInScope(scope, operators.tenantCode)))).length > 0;

export const listOperators = (db: Executor, scope: Scope) =>
  db
    .select({ ...OPERATOR, createdAt: operators.createdAt, disabledAt: operators.disabledAt })
    .from(operators)
    .where(tenantInScope(scope, operators.tenantCode))
    .orderBy(asc(operators.name));
