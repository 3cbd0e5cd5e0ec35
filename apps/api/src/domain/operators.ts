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
import { EVERY_TENANT, type Scope } from '../store/scope.ts';
import { getTenant } from '../store/sites.ts';
import type { Client } from './deps.ts';

/**
 * Creates an operator and its first token; the token is returned once and
 * never stored in clear. `tenant_code` scopes it to one tenant (issue 22); a
 * scoped creator's operators are always its own tenant's, and naming another
 * tenant answers as naming a missing one.
 */
export const createOperator = async (
  db: Database,
  clock: Clock,
  input: { name: string; role: OperatorRole; tenant_code?: string },
  createdBy: string,
  client: Client | null,
  scope: Scope = EVERY_TENANT,
): Promise<{ id: string; name: string; role: OperatorRole; tenant_code: string | null; token: string }> =>
  db.transaction(async (tx) => {
    const now = clock.now();
    const tenantCode = input.tenant_code ?? scope.tenantCode;
    if (tenantCode !== null && !(await getTenant(tx, tenantCode, scope))) throw new ApiError('not_found', `No tenant ${tenantCode}`);
    const op = await insertOperator(tx, { name: input.name, role: input.role, tenantCode, createdAt: now });
    if (!op) throw new ApiError('conflict', `Operator ${input.name} already exists`);
    const token = mintSecret('aop');
    await insertOperatorToken(tx, { operatorId: op.id, digest: secretDigest(token), start: secretDisplayStart(token), createdAt: now });
    await recordAudit(tx, { clock }, client, {
      eventType: 'operator.created',
      actor: createdBy,
      details: { operator: op.name, role: op.role, tenant_code: op.tenantCode },
    });
    return { id: op.id, name: op.name, role: op.role, tenant_code: op.tenantCode, token };
  });

export const listAllOperators = async (db: Database, scope: Scope) => ({
  items: (await listOperators(db, scope)).map((o) => ({
    id: o.id,
    name: o.name,
    role: o.role,
    tenant_code: o.tenantCode,
    created_at: o.createdAt.toISOString(),
    disabled_at: o.disabledAt?.toISOString() ?? null,
  })),
});

/**
 * Disables an operator: every token it holds stops working at once. An
 * operator cannot disable itself, so the last admin cannot lock everyone out
 * by mistake (with DATABASE_URL the CLI can still make a new admin).
 */
export const disableOperator = async (db: Database, clock: Clock, name: string, by: string, client: Client | null, scope: Scope = EVERY_TENANT) =>
  db.transaction(async (tx) => {
    // Another tenant's operator (or a global one, for a scoped admin) is not found.
    if (!(await operatorExists(tx, name, scope))) throw new ApiError('not_found', `No operator ${name}`);
    if (name === by) throw new ApiError('invalid_state', 'An operator cannot disable itself');
    const now = clock.now();
    const op = await disableOperatorByName(tx, name, now);
    if (!op) {
      if (await operatorExists(tx, name, scope)) throw new ApiError('invalid_state', `Operator ${name} is already disabled`);
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
