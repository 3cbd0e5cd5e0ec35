/**
 * api + edge as real processes on a fresh test database (the system
 * Postgres, own database per file, as @airlock/testing's createTestDatabase does) and a Redis
 * the caller chooses: usually a private one it will kill.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { ensureSelfSignedCert } from '@airlock/crypto';
import { createTestDatabase, type TestDatabase } from '@airlock/testing';
import { adminClient, createAdminToken, type Admin } from './airlock.ts';
import { apiProcess, edgeProcess, type ApiProcess, type EdgeProcess } from './processes.ts';

export interface ChaosStack {
  db: TestDatabase | null;
  databaseUrl: string;
  api: ApiProcess;
  admin: Admin;
  redisPrefix: string;
  edgeEnv: Record<string, string>;
  cert: { certPath: string; keyPath: string; sha256: string } | null;
  /** Starts one more edge with the stack's settings (plus `extra`). */
  startEdge: (extra?: Record<string, string>) => Promise<EdgeProcess>;
  edges: EdgeProcess[];
  stop: () => Promise<void>;
}

export const startChaosStack = async (opts: {
  redisEnv: Record<string, string>;
  edgeEnv?: Record<string, string>;
  apiEnv?: Record<string, string>;
  tls?: boolean;
  /** A database of the caller's own (e.g. on a private cluster); default: a fresh one on the test server. */
  databaseUrl?: string;
}): Promise<ChaosStack> => {
  const db = opts.databaseUrl ? null : await createTestDatabase('airlock_test_chaos');
  const databaseUrl = opts.databaseUrl ?? db?.url ?? '';
  const redisPrefix = `airlock-chaos:${randomBytes(6).toString('hex')}:`;
  const api = await apiProcess(databaseUrl, { ...opts.redisEnv, EDGE_REDIS_PREFIX: redisPrefix, ...opts.apiEnv });
  await api.start();
  const admin = adminClient(api.url, await createAdminToken(databaseUrl));
  const made = opts.tls ? await ensureSelfSignedCert(api.dataDir) : null;
  const cert = made
    ? { certPath: made.certPath, keyPath: made.keyPath, sha256: made.fingerprint256.replaceAll(':', '').toLowerCase() }
    : null;
  const edgeEnv: Record<string, string> = {
    EDGE_UPSTREAM: api.url,
    EDGE_REDIS_PREFIX: redisPrefix,
    ...opts.redisEnv,
    ...(cert ? { EDGE_TLS_CERT: cert.certPath, EDGE_TLS_KEY: cert.keyPath } : {}),
    ...opts.edgeEnv,
  };
  const edges: EdgeProcess[] = [];
  return {
    db,
    databaseUrl,
    api,
    admin,
    redisPrefix,
    edgeEnv,
    cert,
    edges,
    startEdge: async (extra = {}) => {
      const e = await edgeProcess({ ...edgeEnv, ...extra });
      edges.push(e);
      return e;
    },
    stop: async () => {
      await Promise.all(edges.map((e) => e.proc.stop('SIGKILL')));
      await api.cleanup();
      await db?.drop();
      rmSync(api.dataDir, { recursive: true, force: true });
    },
  };
};
