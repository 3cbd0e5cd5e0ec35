/** Operators and their bearer tokens (`aop_`, stored as SHA-256 digests). */
import { isWellFormedSecret, mintSecret, secretDigest, secretDisplayStart } from '@airlock/crypto';
import type { OperatorRole } from '@airlock/schema';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import {
  disableOperatorByName,
  findOperatorByTokenDigest,
  insertOperator,
  insertOperatorToken,
  listOperators,
  operatorExists,
  type Operator,
} from '../store/operators.ts';
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
  items: (await listOperators(db)).map((o) => ({
    id: o.id,
    name: o.name,
    role: o.role,
    created_at: o.createdAt.toISOString(),
    disabled_at: o.disabledAt?.toISOString() ?? null,
  })),
});

/**
 * Disables an operator: every token it holds stops working at once. An
 * operator cannot disable itself, so the last admin cannot lock everyone out
 * by mistake (with DATABASE_URL the CLI can still make a new admin).
 */
export const disableOperator = async (db: Database, clock: Clock, name: string, by: string, client: Client | null) =>
  db.transaction(async (tx) => {
    if (name === by) throw new ApiError('invalid_state', 'An operator cannot disable itself');
    const now = clock.now();
    const op = await disableOperatorByName(tx, name, now);
    if (!op) {
      if (await operatorExists(tx, name)) throw new ApiError('invalid_state', `Operator ${name} is already disabled`);
      throw new ApiError('not_found', `No operator ${name}`);
    }
    await recordAudit(tx, { clock }, client, { eventType: 'operator.disabled', actor: by, details: { operator: op.name, role: op.role } });
    return { name: op.name, role: op.role, disabled_at: now.toISOString() };
  });

/** Resolves a bearer token to an operator, or null. Lookup is by digest: nothing to time. */
export const authenticateOperator = async (db: Database, token: string): Promise<Operator | null> => {
  if (!isWellFormedSecret('aop', token)) return null;
  return findOperatorByTokenDigest(db, secretDigest(token));
};
