/**
 * The real stack for cross-process tests: the api and the edge as child
 * processes (the same entry points `pnpm start:api` / `pnpm start:edge` run),
 * a fresh Postgres database, real Redis under a unique key prefix, and an
 * admin operator.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withAdminDatabase } from '@airlock/api/admin';
import { ensureSelfSignedCert } from '@airlock/crypto';
import { createTestDatabase, freePort, REDIS_URL, spawnManaged, waitForHttp, type ManagedProcess, type TestDatabase } from '@airlock/testing';

export interface Stack {
  edgeUrl: string;
  apiUrl: string;
  certPath?: string;
  certSha256?: string;
  /** Prometheus endpoints of the api and the edge (loopback listeners). */
  apiMetricsUrl: string;
  edgeMetricsUrl: string;
  adminToken: string;
  serviceToken: string;
  redisPrefix: string;
  dataDir: string;
  api: ManagedProcess;
  edge: ManagedProcess;
  /** Bodies are JSON as parsed; tests assert them field by field. */
  // `any` on purpose, as in @airlock/testing's http.ts.
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export const startStack = async (
  opts: {
    edgeEnv?: Record<string, string>;
    apiEnv?: Record<string, string>;
    tls?: boolean;
    /** Chosen by the caller when the api must know it up front (the SSH endpoint it advertises). */
    edgePort?: number;
    /** Run apps/<app>/dist/main.js (the production build, `pnpm build` first) instead of the sources. */
    built?: boolean;
    /** false: the edge counts in process (no REDIS_URL), as a single edge without Redis does. */
    edgeRedis?: boolean;
  } = {},
): Promise<Stack> => {
  const db: TestDatabase = await createTestDatabase('airlock_stack');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-stack-'));
  const apiPort = await freePort();
  const edgePort = opts.edgePort ?? (await freePort());
  const metricsPort = await freePort();
  const apiMetricsPort = await freePort();
  const redisPrefix = `airlock-test:${randomBytes(6).toString('hex')}:`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;

  const api = spawnManaged([opts.built ? 'apps/api/dist/main.js' : 'apps/api/src/main.ts'], {
    DATABASE_URL: db.url,
    AIRLOCK_SECRET: randomBytes(24).toString('hex'),
    AIRLOCK_DATA_DIR: dataDir,
    API_HOST: '127.0.0.1',
    API_PORT: String(apiPort),
    // The edge below connects from loopback: its X-Forwarded-For is believed (nothing is by default).
    API_TRUSTED_PROXIES: '127.0.0.1',
    API_METRICS_PORT: String(apiMetricsPort),
    AIRLOCK_LOG_LEVEL: 'warn',
    // So the operator's lockout commands see this edge's keys.
    REDIS_URL,
    EDGE_REDIS_PREFIX: redisPrefix,
    ...opts.apiEnv,
  });
  let edge: ManagedProcess | null = null;
  try {
    await waitForHttp(`${apiUrl}/readyz`, api);
    const tokens = await createOperatorsDirectly(db.url);
    const made = opts.tls ? await ensureSelfSignedCert(dataDir) : null;
    const cert = made && { certPath: made.certPath, keyPath: made.keyPath, sha256: made.fingerprint256.replaceAll(':', '').toLowerCase() };
    edge = spawnManaged([opts.built ? 'apps/edge/dist/main.js' : 'apps/edge/src/main.ts'], {
      EDGE_HOST: '127.0.0.1',
      EDGE_PORT: String(edgePort),
      EDGE_UPSTREAM: apiUrl,
      EDGE_METRICS_PORT: String(metricsPort),
      ...(opts.edgeRedis === false ? {} : { REDIS_URL, EDGE_REDIS_PREFIX: redisPrefix }),
      // Lockouts and blocks are reported to the api (security.lockout, issue 20).
      EDGE_API_TOKEN: tokens.edge,
      ...(cert ? { EDGE_TLS_CERT: cert.certPath, EDGE_TLS_KEY: cert.keyPath } : {}),
      ...opts.edgeEnv,
    });
    // The edge answers /healthz itself; over TLS we probe the metrics port instead of fighting fetch's CA checks.
    await waitForHttp(cert ? `http://127.0.0.1:${metricsPort}/metrics` : `http://127.0.0.1:${edgePort}/healthz`, edge);
    const edgeProc = edge;
    return {
      edgeUrl: `${cert ? 'https' : 'http'}://127.0.0.1:${edgePort}`,
      apiUrl,
      apiMetricsUrl: `http://127.0.0.1:${apiMetricsPort}/metrics`,
      edgeMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      ...(cert ? { certPath: cert.certPath, certSha256: cert.sha256 } : {}),
      adminToken: tokens.admin,
      serviceToken: tokens.service,
      redisPrefix,
      dataDir,
      api,
      edge: edgeProc,
      admin: async (method, p, body) => {
        const res = await fetch(`${apiUrl}${p}`, {
          method,
          headers: { authorization: `Bearer ${tokens.admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : null };
      },
      stop: async () => {
        await edgeProc.stop();
        await api.stop();
        await db.drop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await edge?.stop();
    await api.stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
};

/** Operators are created in the database directly, as `pnpm airlock operators create` does. */
const createOperatorsDirectly = (url: string): Promise<{ admin: string; service: string; edge: string }> =>
  withAdminDatabase(url, async (db) => {
    const admin = await db.createOperator({ name: 'stack-admin', role: 'admin' }, 'test');
    const service = await db.createOperator({ name: 'stack-service', role: 'service' }, 'test');
    const edge = await db.createOperator({ name: 'stack-edge', role: 'edge' }, 'test');
    return { admin: admin.token, service: service.token, edge: edge.token };
  });
