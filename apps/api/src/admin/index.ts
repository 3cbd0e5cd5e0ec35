/**
 * `@airlock/api/admin`: what may be done to Airlock's database without a
 * running api, for the operator CLI (apps/cli) and the tests that bootstrap a
 * stack. Bootstrap (migrate, the first admin operator) and recovery (disable
 * a leaked operator, prune the audit log while the api is down) cannot go
 * through the admin API: no operator exists yet, or the api is the problem.
 * Everything else the CLI does goes through `@airlock/client`.
 *
 * The same domain functions the admin routes call, in the same transactions,
 * writing the same audit rows; only the actor differs (the caller names it).
 *
 * @example
 *   const created = await withAdminDatabase(process.env.DATABASE_URL, async (db) => {
 *     await db.migrate();
 *     return db.createOperator({ name: 'alice', role: 'admin' }, 'cli');
 *   });
 */
import type { OperatorRole } from '@airlock/schema';
import { systemClock } from '../clock.ts';
import { pruneAuditRows } from '../domain/audit-retention.ts';
import { clearOperatorSignInFailures, setOperatorPassword } from '../domain/console-sessions.ts';
import { createOperator, disableOperator, listAllOperators } from '../domain/operators.ts';
import { EVERY_TENANT } from '../store/scope.ts';
import { migrate, withDatabase, type MigrationOutcome } from './database.ts';

export { ApiError } from '../errors.ts';
export { expectedMigrationCount } from '../db/migrate.ts';
export { checkCaNameConstraints } from '../domain/certificate-names.ts';
export { ConfigError, loadApiConfig, type ApiConfig } from '../env.ts';
export { adminTokenPath, DEFAULT_DATA_DIR } from '../data-dir.ts';
export { DatabaseUnreachableError, describeDatabaseUrl, type MigrationOutcome } from './database.ts';

export interface AdminDatabase {
  /** Applies the shipped migrations (idempotent; concurrent starts take turns on a lock). */
  migrate(): Promise<MigrationOutcome>;
  createOperator(input: { name: string; role: OperatorRole; tenant_code?: string }, actor: string): ReturnType<typeof createOperator>;
  listOperators(): ReturnType<typeof listAllOperators>;
  disableOperator(name: string, actor: string): ReturnType<typeof disableOperator>;
  setOperatorPassword(name: string, password: string, actor: string): ReturnType<typeof setOperatorPassword>;
  clearOperatorSignInFailures(name: string, actor: string): ReturnType<typeof clearOperatorSignInFailures>;
  /** Deletes audit rows older than `before`, refused inside the retention window (the api's own rule and audit row). */
  pruneAudit(before: Date, actor: string, retention: { now: Date; minRetentionDays: number }): ReturnType<typeof pruneAuditRows>;
  /**
   * For `airlock doctor`: the migrations applied (0 when the count cannot be
   * read) and the database's clock, in epoch milliseconds.
   */
  probe(): Promise<{ applied: number; nowMs: number }>;
}

/**
 * Opens DATABASE_URL on one connection, hands `work` the operations above,
 * and always closes. A network failure becomes DatabaseUnreachableError; a
 * refusal is the domain's ApiError (its code, message and field problems).
 */
export const withAdminDatabase = <T>(url: string, work: (db: AdminDatabase) => Promise<T>): Promise<T> =>
  withDatabase(url, (handle) =>
    work({
      migrate: () => migrate(handle),
      createOperator: (input, actor) => createOperator(handle.db, systemClock, input, actor, null),
      listOperators: () => listAllOperators(handle.db, EVERY_TENANT),
      disableOperator: (name, actor) => disableOperator(handle.db, systemClock, name, actor, null),
      setOperatorPassword: (name, password, actor) => setOperatorPassword(handle.db, systemClock, name, password, actor, null),
      clearOperatorSignInFailures: (name, actor) => clearOperatorSignInFailures(handle.db, systemClock, name, actor, null),
      pruneAudit: (before, actor, retention) => pruneAuditRows({ db: handle.db, ...retention }, before, actor, null),
      probe: async () => {
        const [row] = await handle.sql<{ ms: string }[]>`select (extract(epoch from clock_timestamp()) * 1000)::text as ms`;
        const counted = await handle.sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`.catch(() => [{ n: 0 }]);
        return { applied: counted[0]?.n ?? 0, nowMs: Number(row?.ms) };
      },
    }),
  );
