/** Operators and their bearer tokens (`aop_`, stored as SHA-256 digests). */
import { isWellFormedSecret, mintSecret, secretDigest, secretDisplayStart } from '@airlock/crypto';
import type { OperatorRole } from '@airlock/schema';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import { findOperatorByTokenDigest, insertOperator, insertOperatorToken, listOperators, type Operator } from '../store/operators.ts';
import { recordAudit } from './audit.ts';
import type { Client } from './deps.ts';

/** Creates an operator and its first token; the token is returned once and never stored in clear. */
export const createOperator = async (
  db: Database,
  clock: Clock,
  input: { name: string; role: OperatorRole },
  createdBy: string,
  client: Client | null,
): Promise<{ id: string; name: string; role: OperatorRole; token: string }> =>
  db.transaction(async (tx) => {
    const now = clock.now();
    const op = await insertOperator(tx, { name: input.name, role: input.role, createdAt: now });
    if (!op) throw new ApiError('conflict', `Operator ${input.name} already exists`);
    const token = mintSecret('aop');
    await insertOperatorToken(tx, { operatorId: op.id, digest: secretDigest(token), start: secretDisplayStart(token), createdAt: now });
    await recordAudit(tx, { clock }, client, {
      eventType: 'operator.created',
      actor: createdBy,
      details: { operator: op.name, role: op.role },
    });
    return { ...op, token };
  });

export const listAllOperators = async (db: Database) => ({
  items: (await listOperators(db)).map((o) => ({ id: o.id, name: o.name, role: o.role, created_at: o.createdAt.toISOString() })),
});

/** Resolves a bearer token to an operator, or null. Lookup is by digest: nothing to time. */
export const authenticateOperator = async (db: Database, token: string): Promise<Operator | null> => {
  if (!isWellFormedSecret('aop', token)) return null;
  return findOperatorByTokenDigest(db, secretDigest(token));
};
