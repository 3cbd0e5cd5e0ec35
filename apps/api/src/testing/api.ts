/** An in-process api on a fresh database, with a hand-moved clock and an admin operator. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import { createTestDatabase, type TestDatabase } from '@airlock/testing';
import { createLogger, type Logger } from '@airlock/log';
import { ManualClock } from '../clock.ts';
import { createOperator } from '../domain/operators.ts';
import { loadApiConfig } from '../env.ts';
import { startApi, type RunningApi } from '../server.ts';

export interface TestApi {
  api: RunningApi;
  db: TestDatabase | null;
  clock: ManualClock;
  http: supertest.Agent;
  adminToken: string;
  auditorToken: string;
  serviceToken: string;
  logs: string[];
  /** Answers that did not match the route table (checkResponses); close() fails when any. */
  offTable: string[];
  /** supertest request with the admin bearer token set. */
  admin(method: 'get' | 'post' | 'patch' | 'delete', url: string): supertest.Test;
  close(): Promise<void>;
}

export const startTestApi = async (
  opts: { embedded?: boolean; env?: Record<string, string>; shareDatabaseOf?: TestApi } = {},
): Promise<TestApi> => {
  // A second replica on the first one's database: it neither creates nor drops it.
  const shared = opts.shareDatabaseOf?.db ?? null;
  const db = opts.embedded || shared ? null : await createTestDatabase();
  const url = shared?.url ?? db?.url;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-api-'));
  const config = loadApiConfig({
    ...(url ? { DATABASE_URL: url } : {}),
    AIRLOCK_SECRET: 'test-secret-'.padEnd(40, 'x'),
    AIRLOCK_DATA_DIR: dataDir,
    API_PORT: '0',
    AIRLOCK_LOG_LEVEL: 'info',
    ...opts.env,
  });
  const logs: string[] = [];
  const logger: Logger = createLogger({
    service: 'api',
    level: 'debug',
    write: (line) => {
      logs.push(line);
      // Unexpected errors surface in the test output; expected refusals are not logged at this level.
      if (line.includes('"level":"error"')) process.stderr.write(line + '\n');
    },
  });
  const clock = new ManualClock(new Date('2026-11-22T12:00:00.000Z'));
  // Every answer is held to the route table (@airlock/schema): a mismatch is answered 500 and fails close().
  const offTable: string[] = [];
  const checkResponses = (problem: string) => {
    offTable.push(problem);
    process.stderr.write(`${problem}\n`);
  };
  const api = await startApi(config, { clock, logger, app: { checkResponses } });
  const mk = (role: 'admin' | 'auditor' | 'service', name: string) =>
    createOperator(api.deps.db, clock, { name, role }, 'test', null).then((o) => o.token);
  const suffix = shared ? `-${Math.random().toString(36).slice(2, 8)}` : '';
  const adminToken = await mk('admin', `alice${suffix}`);
  const auditorToken = await mk('auditor', `audrey${suffix}`);
  const serviceToken = await mk('service', `mgmt${suffix}`);
  const http = supertest.agent(api.url);
  return {
    api,
    db,
    clock,
    http,
    adminToken,
    auditorToken,
    serviceToken,
    logs,
    offTable,
    admin: (method, url) => supertest(api.url)[method](url).set('authorization', `Bearer ${adminToken}`),
    close: async () => {
      await api.close();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
      if (offTable.length > 0) throw new Error(`answers off the route table:\n${offTable.join('\n')}`);
    },
  };
};
