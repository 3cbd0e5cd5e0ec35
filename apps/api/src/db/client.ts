import { drizzle, type PostgresJsDatabase, type PostgresJsQueryResultHKT } from 'drizzle-orm/postgres-js';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { timedClient, type QueryObserver } from './timed.ts';

/** Anything that runs queries: the database or a transaction on it. */
export type Executor = PgDatabase<PostgresJsQueryResultHKT>;
export type Database = PostgresJsDatabase;

export interface DbHandle {
  db: Database;
  sql: postgres.Sql;
  /** Times every statement drizzle runs (the metrics' query latency); null stops it. */
  observeQueries(observer: QueryObserver | null): void;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** A postgres:// URL, or a unix socket path for the embedded server. */
  url?: string;
  socketPath?: string;
  /** Pool size. The embedded database is one session underneath: 1. */
  max?: number;
}

/** Pool size for a real Postgres. */
export const DEFAULT_POOL_MAX = 10;

export const connectDatabase = (opts: ConnectOptions): DbHandle => {
  const common = {
    max: opts.max ?? DEFAULT_POOL_MAX,
    // Postgres notices (e.g. "relation already exists, skipping") are not ours to print.
    onnotice: () => {},
    connection: { application_name: 'airlock-api' },
    idle_timeout: 60,
  };
  const sql = opts.socketPath
    ? postgres({ ...common, path: opts.socketPath, user: 'postgres', database: 'postgres' })
    : postgres(opts.url ?? '', common);
  let observer: QueryObserver | null = null;
  const db = drizzle(timedClient(sql, () => observer));
  return {
    db,
    sql,
    observeQueries: (o) => {
      observer = o;
    },
    close: () => sql.end({ timeout: 5 }),
  };
};
