/**
 * Direct database access for `migrate`, `operators …` and `audit prune` with
 * DATABASE_URL set: the only CLI paths that bypass the api, because they
 * bootstrap it (no operator exists yet to authorise an admin call) or recover
 * it. They go through `@airlock/api/admin`, the api's one entry for this.
 */
import type { MigrationOutcome } from '@airlock/api/admin';
import { CliError } from '../context.ts';

/** DATABASE_URL when set and well-formed; undefined when unset. */
export const databaseUrlFrom = (env: NodeJS.ProcessEnv): string | undefined => {
  const raw = env.DATABASE_URL;
  if (!raw) return undefined;
  if (!/^postgres(ql)?:\/\//.test(raw)) throw new CliError('DATABASE_URL must be a postgres:// URL');
  return raw;
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
