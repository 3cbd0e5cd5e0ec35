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
  /**
   * Prepared statements (default: on for a real Postgres, off for the
   * embedded one). Each statement is parsed and planned once per connection
   * and then runs in one round trip instead of two (see timed.ts). Pass
   * `prepare: false` behind a transaction-mode pooler (pgbouncer before
   * 1.21 with `pool_mode = transaction`, or without `max_prepared_statements`):
   * there a connection's prepared statements may live on another server
   * session, and queries fail with "prepared statement does not exist".
   */
  prepare?: boolean;
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
    // A Postgres that is down or restarting fails a query in seconds (503),
    // not after postgres.js's 30 s default (issue 13).
    connect_timeout: 5,
    // postgres.js waits up to 20 s (3^n/100 s, n counting every failed
    // connect) before reconnecting, and queries queue behind that wait: after
    // a short outage under load requests hung 11-19 s. Capped at 1 s.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
  };
  // Off for the embedded PGlite: its socket shim is one shared session, measured
  // and tested without them, and not what the throughput targets are about.
  const prepare = opts.prepare ?? opts.socketPath === undefined;
  const sql = opts.socketPath
    ? postgres({ ...common, prepare, path: opts.socketPath, user: 'postgres', database: 'postgres' })
    : postgres(opts.url ?? '', { ...common, prepare });
  let observer: QueryObserver | null = null;
  const db = drizzle(timedClient(sql, () => observer, prepare));
  return {
    db,
    sql,
    observeQueries: (o) => {
      observer = o;
    },
    close: () => sql.end({ timeout: 5 }),
  };
};
