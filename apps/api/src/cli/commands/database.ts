/**
 * Direct database access for `migrate` and `operators create`: the only CLI
 * paths that bypass the api, because they bootstrap it (no operator exists
 * yet to authorise an admin call).
 */
import { connectDatabase, type DbHandle } from '../../db/client.ts';
import { expectedMigrationCount, runMigrations } from '../../db/migrate.ts';
import { CliError, DatabaseUnreachableError } from '../context.ts';

// Errors postgres.js and node raise when the server is not there or not answering.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'CONNECT_TIMEOUT']);

/** DATABASE_URL without its password, fit to print. */
export const describeDatabaseUrl = (raw: string): string => {
  try {
    const u = new URL(raw);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
};

/** DATABASE_URL when set and well-formed; undefined when unset. */
export const databaseUrlFrom = (env: NodeJS.ProcessEnv): string | undefined => {
  const raw = env.DATABASE_URL;
  if (!raw) return undefined;
  if (!/^postgres(ql)?:\/\//.test(raw)) throw new CliError('DATABASE_URL must be a postgres:// URL');
  return raw;
};

/**
 * Opens a single-connection client (runMigrations holds a session advisory
 * lock, so it must stay on one connection), runs `work`, and always closes.
 */
export const withDatabase = async <T>(url: string, work: (handle: DbHandle) => Promise<T>): Promise<T> => {
  const handle = connectDatabase({ url, max: 1 });
  try {
    return await work(handle);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) {
      throw new DatabaseUnreachableError(`cannot reach the database at ${describeDatabaseUrl(url)} (${code})`);
    }
    throw err;
  } finally {
    await handle.close().catch(() => {});
  }
};

const appliedCount = async (handle: DbHandle): Promise<number> => {
  const rows = await handle.sql<{ n: number }[]>`
    select count(*)::int as n from drizzle.__drizzle_migrations`.catch((err: unknown) => {
    // 42P01 / 3F000: no migrations table or schema yet, i.e. a fresh database.
    const code = (err as { code?: unknown }).code;
    if (code === '42P01' || code === '3F000') return [{ n: 0 }];
    throw err;
  });
  return rows[0]?.n ?? 0;
};

export interface MigrationOutcome {
  before: number;
  after: number;
  shipped: number;
}

/** Runs the shipped migrations (idempotent) and reports how many were new. */
export const migrate = async (handle: DbHandle): Promise<MigrationOutcome> => {
  const before = await appliedCount(handle);
  await runMigrations(handle.sql);
  const after = await appliedCount(handle);
  return { before, after, shipped: expectedMigrationCount() };
};

export const describeMigration = (o: MigrationOutcome): string => {
  const applied = o.after - o.before;
  if (o.after > o.shipped) {
    return `the database has ${o.after} migrations but this checkout ships ${o.shipped}: it was migrated by a newer version`;
  }
  return applied === 0
    ? `already up to date (${o.after} of ${o.shipped} migrations applied)`
    : `applied ${applied} migration${applied === 1 ? '' : 's'} (${o.after} of ${o.shipped} now applied)`;
};
