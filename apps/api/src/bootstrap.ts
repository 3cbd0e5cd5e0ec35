/**
 * Quickstart bootstrap: with AIRLOCK_BOOTSTRAP_ADMIN=1 and no operator yet,
 * create `admin` and write its token to `<data dir>/admin-token` (0600), where
 * `pnpm airlock` finds it. With the embedded database nothing but the api can
 * reach the tables, so this is how the first operator comes to exist there.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { operators } from '@airlock/schema/db';
import { sql } from 'drizzle-orm';
import { adminTokenPath } from './data-dir.ts';
import type { Deps } from './domain/deps.ts';
import { createOperator } from './domain/operators.ts';

export const bootstrapAdmin = async (deps: Deps): Promise<void> => {
  const file = adminTokenPath(deps.config.dataDir);
  if (existsSync(file)) return;
  const [row] = await deps.db.select({ n: sql<number>`count(*)::int` }).from(operators);
  if ((row?.n ?? 0) > 0) {
    deps.logger.warn('operators exist but no admin-token file; create a token with `pnpm airlock operators create`', { file });
    return;
  }
  const admin = await createOperator(deps.db, deps.clock, { name: 'admin', role: 'admin' }, 'bootstrap', null);
  writeFileSync(file, admin.token + '\n', { mode: 0o600, flag: 'wx' });
  deps.logger.info('created the first admin operator; its token is in the file', { operator: 'admin', file });
};
