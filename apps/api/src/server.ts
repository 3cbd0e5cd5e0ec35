/**
 * Wires config, database, migrations and the HTTP app into a running api.
 * main.ts calls this; tests call it too, against real Postgres.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { systemClock, type Clock } from './clock.ts';
import { connectDatabase, type DbHandle } from './db/client.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded.ts';
import { isMigrated, runMigrations } from './db/migrate.ts';
import type { Deps } from './domain/deps.ts';
import type { ApiConfig } from './env.ts';
import { createApp, type AppOptions } from './http/app.ts';
import { createLogger, type Logger } from './logger.ts';
import { bootstrapAdmin } from './bootstrap.ts';
import { loadServerSecret } from './secret.ts';
import { connectLockoutStore } from './store/lockouts.ts';

export interface RunningApi {
  url: string;
  port: number;
  deps: Deps;
  close(): Promise<void>;
}

export interface OpenedDatabase {
  handle: DbHandle;
  embedded: EmbeddedPostgres | null;
  close(): Promise<void>;
}

/** DATABASE_URL when set; otherwise embedded Postgres under the data dir. */
export const openDatabase = async (config: ApiConfig, logger: Logger): Promise<OpenedDatabase> => {
  if (config.databaseUrl) {
    const handle = connectDatabase({ url: config.databaseUrl });
    return { handle, embedded: null, close: () => handle.close() };
  }
  logger.info('DATABASE_URL is unset: using embedded Postgres (PGlite)', { data_dir: config.dataDir });
  const embedded = await startEmbeddedPostgres(config.dataDir);
  const handle = connectDatabase({ socketPath: embedded.socketPath, max: 1 });
  return {
    handle,
    embedded,
    close: async () => {
      await handle.close();
      await embedded.stop();
    },
  };
};

/** Migrates through a dedicated single-connection client (the embedded one already is). */
export const migrateDatabase = async (config: ApiConfig, database: OpenedDatabase): Promise<void> => {
  if (database.embedded || !config.databaseUrl) return runMigrations(database.handle.sql);
  const single = connectDatabase({ url: config.databaseUrl, max: 1 });
  try {
    await runMigrations(single.sql);
  } finally {
    await single.close();
  }
};

export const startApi = async (
  config: ApiConfig,
  opts: { clock?: Clock; logger?: Logger; app?: AppOptions } = {},
): Promise<RunningApi> => {
  const logger = opts.logger ?? createLogger('api', config.logLevel);
  const database = await openDatabase(config, logger);
  try {
    await migrateDatabase(config, database);
  } catch (err) {
    await database.close();
    throw err;
  }
  const deps: Deps = {
    db: database.handle.db,
    clock: opts.clock ?? systemClock,
    config,
    serverSecret: loadServerSecret(config.secret, config.dataDir),
    logger,
    lockouts: config.redis ? connectLockoutStore(config.redis, config.redisPrefix) : null,
  };
  if (config.bootstrapAdmin) await bootstrapAdmin(deps);
  const app = createApp(deps, { isReady: () => isMigrated(database.handle.sql), ...opts.app });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
    s.once('error', reject);
  });
  // The api sits behind the edge on a private network; still, bound idle sockets.
  server.setTimeout?.(60_000);
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info('api listening', { host: config.host, port, embedded_database: database.embedded !== null });
  return {
    url: `http://${host}:${port}`,
    port,
    deps,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deps.lockouts?.close();
      await database.close();
    },
  };
};
