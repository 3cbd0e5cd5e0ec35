/**
 * Embedded Postgres for machines without one: PGlite (Postgres compiled to
 * WASM) behind pglite-socket, so the api talks to it with the same `postgres`
 * driver and the same SQL as in production.
 *
 * PGlite is a single session. pglite-socket can multiplex clients, but
 * statements of two clients' transactions would then share that session, so
 * we allow exactly one client (our pool of size 1): transactions are then
 * serialised, and row locks and single-use updates behave as on Postgres.
 * The socket is a unix socket inside the 0700 data directory: PGlite has no
 * authentication, so nobody else on the machine may reach it.
 */
import { mkdirSync } from 'node:fs';
import { ensurePrivateDir, tightenTree } from '../data-dir.ts';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  socketPath: string;
  stop(): Promise<void>;
}

/** How often files PGlite created since are taken out of others' reach. */
const TIGHTEN_INTERVAL_MS = 10_000;

type Warn = (message: string, fields: Record<string, unknown>) => void;

export const startEmbeddedPostgres = async (dataDir: string, warn: Warn = () => {}): Promise<EmbeddedPostgres> => {
  ensurePrivateDir(dataDir, warn);
  const pgdata = path.join(dataDir, 'pgdata');
  ensurePrivateDir(pgdata, warn);
  // PGlite (Emscripten's NODEFS) creates files 0666 and chmods them so
  // explicitly, past the umask. The 0700 directory is what keeps other users
  // out; on top of it (#8.9): umask 077 for this process (it writes nothing
  // meant for others), fix what an earlier run left open, tighten again once
  // PGlite has created its files, and keep tightening new ones.
  process.umask(0o077);
  const loosened = tightenTree(pgdata);
  if (loosened > 0) warn('embedded database files were readable by others; tightened', { dir: pgdata, files: loosened });
  const db = await PGlite.create({ dataDir: pgdata });
  tightenTree(pgdata);
  const sweeper = setInterval(() => {
    try {
      tightenTree(pgdata);
    } catch {
      // A file removed mid-walk (a dropped relation): the next sweep sees the rest.
    }
  }, TIGHTEN_INTERVAL_MS);
  sweeper.unref();
  const socketDir = path.join(dataDir, 'run');
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  ensurePrivateDir(socketDir, warn);
  const socketPath = path.join(socketDir, '.s.PGSQL.5432');
  // A stale socket from a crashed run would make listen() fail.
  await import('node:fs/promises').then((fs) => fs.rm(socketPath, { force: true }));
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 1 });
  await server.start();
  return {
    socketPath,
    stop: async () => {
      clearInterval(sweeper);
      await server.stop();
      await db.close();
      tightenTree(pgdata);
    },
  };
};
