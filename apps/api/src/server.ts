/**
 * Wires config, database, migrations and the HTTP app into a running api.
 * main.ts calls this; tests call it too, against real Postgres.
 */
import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { serve } from '@hono/node-server';
import { systemClock, type Clock } from './clock.ts';
import { connectDatabase, DEFAULT_POOL_MAX, type DbHandle } from './db/client.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded.ts';
import { isMigrated, runMigrations } from './db/migrate.ts';
import type { Deps } from './domain/deps.ts';
import type { ApiConfig } from './env.ts';
import { createApp, type AppOptions } from './http/app.ts';
import { createLogger, type Logger } from '@airlock/log';
import { createApiMetrics } from './metrics.ts';
import { startExpirySweeper } from './domain/enrollment-expiry.ts';
import { bootstrapAdmin } from './bootstrap.ts';
import { loadCaBundle } from './ca.ts';
import { loadServerSecret } from './secret.ts';
import { ensurePrivateDir } from './data-dir.ts';
import { connectLockoutStore } from './store/lockouts.ts';
import { startDeliveryWorker } from './webhooks/worker.ts';
import { startTunnelReaper } from './domain/tunnel-state.ts';

/** How often an api looks for tunnel endpoints whose lease ran out (docs/tunnel.md: the bound on "disconnected"). */
const TUNNEL_REAP_EVERY_MS = 5000;

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
const openDatabase = async (config: ApiConfig, logger: Logger): Promise<OpenedDatabase> => {
  if (config.databaseUrl) {
    const handle = connectDatabase({ url: config.databaseUrl, prepare: config.databasePrepare });
    return { handle, embedded: null, close: () => handle.close() };
  }
  logger.info('DATABASE_URL is unset: using embedded Postgres (PGlite)', { data_dir: config.dataDir });
  const embedded = await startEmbeddedPostgres(config.dataDir, (m, f) => logger.warn(m, f));
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
const migrateDatabase = async (config: ApiConfig, database: OpenedDatabase): Promise<void> => {
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
  const logger = opts.logger ?? createLogger({ service: 'api', level: config.logLevel });
  // The data dir holds the server secret and the admin token even with DATABASE_URL: check it first (#8.9).
  ensurePrivateDir(config.dataDir, (m, f) => logger.warn(m, f));
  // Before the database: a bad secret file stops the start with nothing opened.
  const serverSecret = loadServerSecret(config.secret, config.dataDir);
  const database = await openDatabase(config, logger);
  try {
    await migrateDatabase(config, database);
  } catch (err) {
    await database.close();
    throw err;
  }
  const clock = opts.clock ?? systemClock;
  let ca;
  try {
    ca = await loadCaBundle(config, clock.now(), logger);
  } catch (err) {
    await database.close();
    throw err;
  }
  const deps: Deps = {
    db: database.handle.db,
    clock,
    config,
    serverSecret,
    logger,
    lockouts: config.redis ? connectLockoutStore(config.redis, config.redisPrefix) : null,
    ca,
    // Counted always; served by main.ts (serveMetrics), so in-process tests bind no fixed port.
    metrics: createApiMetrics(database.handle.db, database.embedded ? 1 : DEFAULT_POOL_MAX),
  };
  const metrics = deps.metrics;
  if (metrics) database.handle.observeQueries((seconds, ok) => metrics.query(seconds, ok));
  if (config.bootstrapAdmin) await bootstrapAdmin(deps);
  const stopSweeper = startExpirySweeper(deps, config.expirySweepSeconds);
  const stopReaper = startTunnelReaper(deps, TUNNEL_REAP_EVERY_MS);
  const app = createApp(deps, { isReady: () => isMigrated(database.handle.sql), ...opts.app });
  const worker = config.webhooks.worker ? startDeliveryWorker(deps) : null;
  // NOTIFY at an event's commit wakes the worker at once (the poll is the fallback). The embedded
  // database is one session behind a socket shim: it polls only.
  const listening =
    worker && !database.embedded
      ? await database.handle.sql.listen('airlock_webhooks', () => worker.wake()).catch((err: unknown) => {
          logger.warn('webhook NOTIFY unavailable; the delivery worker polls', { error: String(err) });
          return null;
        })
      : null;
  const tls = config.tls;
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = tls
      ? serve(
          {
            fetch: app.fetch,
            hostname: config.host,
            port: config.port,
            createServer: createHttpsServer,
            serverOptions: { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' },
          },
          () => resolve(s),
        )
      : serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
    s.once('error', reject);
  });
  // The api sits behind the edge on a private network; still, bound idle sockets.
  server.setTimeout?.(60_000);
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info('api listening', {
    host: config.host,
    port,
    tls: tls ? { sha256: tls.fingerprint256 } : false,
    embedded_database: database.embedded !== null,
  });
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    deps,
    close: async () => {
      stopSweeper();
      stopReaper();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker?.stop();
      await listening?.unlisten().catch(() => undefined);
      await deps.lockouts?.close();
      await database.close();
    },
  };
};
