import { operators, operatorTokens, type OperatorRole } from '@airlock/schema';
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export interface Operator {
  id: string;
  name: string;
  role: OperatorRole;
}

export const insertOperator = async (
  db: Executor,
  o: { name: string; role: OperatorRole; createdAt: Date },
): Promise<Operator | null> =>
  (
    await db
      .insert(operators)
      .values(o)
      .onConflictDoNothing()
      .returning({ id: operators.id, name: operators.name, role: operators.role })
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
      .select({ id: operators.id, name: operators.name, role: operators.role })
      .from(operatorTokens)
      .innerJoin(operators, eq(operators.id, operatorTokens.operatorId))
      .where(and(eq(operatorTokens.digest, digest), isNull(operatorTokens.revokedAt), isNull(operators.disabledAt)))
  )[0] ?? null;

export const listOperators = (db: Executor) =>
  db
    .select({ id: operators.id, name: operators.name, role: operators.role, createdAt: operators.createdAt })
    .from(operators)
    .orderBy(asc(operators.name));
