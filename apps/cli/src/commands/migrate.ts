import { describeDatabaseUrl, withAdminDatabase } from '@airlock/api/admin';
import { CliError, emit, type Command } from '../context.ts';
import { databaseUrlFrom, describeMigration } from './database.ts';

export const migrateCommand: Command = {
  path: ['migrate'],
  positionals: [],
  options: {},
  synopsis: '',
  summary: 'apply the database migrations (needs DATABASE_URL)',
  details: `Applies every migration this checkout ships that the database does not have yet.
Safe to run again and concurrently with a starting api (they take turns on a lock).
Needs DATABASE_URL. The embedded database (DATABASE_URL unset) belongs to the
running api process, which migrates it at startup.`,
  run: async (ctx) => {
    const url = databaseUrlFrom(ctx.env);
    if (!url) {
      throw new CliError(
        'DATABASE_URL is not set. The embedded database belongs to the running api process, ' +
          'which migrates it at startup; set DATABASE_URL to migrate an external Postgres.',
      );
    }
    const outcome = await withAdminDatabase(url, (db) => db.migrate());
    emit(ctx, { database: describeDatabaseUrl(url), ...outcome }, (o) => `${o.database}: ${describeMigration(o)}\n`);
  },
};
