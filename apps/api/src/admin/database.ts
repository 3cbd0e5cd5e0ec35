/**
 * The database, opened for one operator command and closed after it: the
 * connection, its network failures as one readable error, and the migration
 * count before and after.
 */
import { connectDatabase, type DbHandle } from '../db/client.ts';
import { expectedMigrationCount, runMigrations } from '../db/migrate.ts';

// Errors postgres.js and node raise when the server is not there or not answering.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'CONNECT_TIMEOUT']);

/** The database named by DATABASE_URL could not be reached (the CLI exits 3, as for an unreachable api). */
export class DatabaseUnreachableError extends Error {
  override readonly name = 'DatabaseUnreachableError';
}

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

/** How many migrations the database has applied; 0 for a fresh one. */
const appliedMigrations = async (handle: DbHandle): Promise<number> => {
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
  const before = await appliedMigrations(handle);
  await runMigrations(handle.sql);
  const after = await appliedMigrations(handle);
  return { before, after, shipped: expectedMigrationCount() };
};
