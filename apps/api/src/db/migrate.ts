import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';

/**
 * The checkout's migrations/, found by walking up from this module: the same
 * answer from apps/api/src/db (tsx) and from apps/api/dist (the build).
 */
const findMigrations = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'migrations');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('migrations/meta/_journal.json not found above the api');
    dir = parent;
  }
};

export const MIGRATIONS_FOLDER = findMigrations();

/** How many migrations this checkout ships (drizzle-kit's journal). */
export const expectedMigrationCount = (): number => {
  const journal = JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as {
    entries: unknown[];
  };
  return journal.entries.length;
};

/**
 * Applies the committed migrations in order; already-applied ones are skipped.
 * A session advisory lock makes two replicas starting at once take turns
 * instead of racing to create the same tables. The lock is per session, so
 * `sql` must be a client with exactly one connection (`max: 1`).
 * `migrationsFolder` is for tests that build an old schema (upgrade tests).
 */
export const runMigrations = async (sql: postgres.Sql, migrationsFolder = MIGRATIONS_FOLDER): Promise<void> => {
  if (sql.options.max !== 1) throw new Error('runMigrations needs a single-connection client');
  await sql`select pg_advisory_lock(727274411)`;
  try {
    await migrate(drizzle(sql), { migrationsFolder });
  } finally {
    await sql`select pg_advisory_unlock(727274411)`;
  }
};

/** True when the database answers and holds every migration this checkout ships. */
export const isMigrated = async (sql: postgres.Sql): Promise<boolean> => {
  const rows = await sql<{ n: number }[]>`
    select count(*)::int as n from drizzle.__drizzle_migrations`.catch(() => [{ n: -1 }]);
  return (rows[0]?.n ?? -1) >= expectedMigrationCount();
};
