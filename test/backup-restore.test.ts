/**
 * Backup and restore as docs/operations.md documents them.
 *
 * Postgres: an enrolled agent's cak_ verifies and the audit trail reads the
 * same after pg_dump -Fc → pg_restore into a fresh database, with the
 * append-only trigger restored too.
 *
 * Embedded (PGlite): stop the api, copy AIRLOCK_DATA_DIR, start an api on the
 * copy: the same holds.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../apps/api/src/clock.ts';
import { createOperator } from '../apps/api/src/domain/operators.ts';
import { loadApiConfig } from '../apps/api/src/env.ts';
import { silentLogger } from '@airlock/log';
import { startApi, type RunningApi } from '../apps/api/src/server.ts';
import { newAgentKey } from './helpers/agent-key.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const run = promisify(execFile);
const SECRET = 'backup-restore-secret-'.padEnd(40, 'x');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const tempDir = (name: string) => {
  const d = mkdtempSync(path.join(tmpdir(), `airlock-${name}-`));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

const clock = new ManualClock(new Date('2026-11-22T12:00:00.000Z'));
const start = (env: Record<string, string>) =>
  startApi(loadApiConfig({ AIRLOCK_SECRET: SECRET, API_PORT: '0', ...env }), { clock, logger: silentLogger });

/** A site, an attended enrollment approved by an admin, the cak_ collected: what a real deployment holds. */
const enrollOne = async (api: RunningApi) => {
  const admin = await createOperator(api.deps.db, clock, { name: 'backup-admin', role: 'admin' }, 'test', null);
  const service = await createOperator(api.deps.db, clock, { name: 'backup-mgmt', role: 'service' }, 'test', null);
  const http = supertest(api.url);
  const as = (req: supertest.Test, token: string) => req.set('authorization', `Bearer ${token}`);
  expect((await as(http.post('/api/v1/admin/sites'), admin.token).send({ site_code: 'BACKUP', name: 'Backup' })).status).toBe(201);
  const code = await as(http.post('/api/v1/admin/pairing-codes'), admin.token).send({ site_code: 'BACKUP' });
  const key = newAgentKey();
  const e = await http.post('/api/v1/enroll').send({ site_code: 'BACKUP', pairing_code: code.body.code, public_key: key.publicKey, hostname: 'vm-backup' });
  expect(e.status).toBe(201);
  const v = await http.post('/api/v1/enroll/verify').send({ enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) });
  expect(v.status).toBe(200);
  expect((await as(http.post(`/api/v1/admin/enrollments/${e.body.enrollment_id}/approve`), admin.token).send({})).status).toBe(200);
  clock.advance(10_000);
  const s = await http.get('/api/v1/enroll/status').set('authorization', `Bearer ${v.body.poll_token}`);
  expect(s.status).toBe(200);
  return { adminToken: admin.token, serviceToken: service.token, cak: s.body.credentials.agent_key as string, agentId: s.body.agent_id as string };
};

/** What must survive: the cak_ verifies, and the audit trail reads the same. */
const snapshot = async (api: RunningApi, tokens: { adminToken: string; serviceToken: string; cak: string }) => {
  const http = supertest(api.url);
  const verify = await http.post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${tokens.serviceToken}`).send({ agent_key: tokens.cak });
  const audit = await http.get('/api/v1/admin/audit?limit=200').set('authorization', `Bearer ${tokens.adminToken}`);
  expect(audit.status).toBe(200);
  // Verifying writes nothing to the audit trail; reading it back is the comparison.
  return { verify: { status: verify.status, body: verify.body }, audit: audit.body.items as unknown[] };
};

describe('Postgres: pg_dump and pg_restore', () => {
  it('restores into a fresh database where the cak_ still verifies and the audit trail is intact and append-only', async () => {
    const source: TestDatabase = await createTestDatabase('airlock_test_backup_src');
    cleanups.push(() => source.drop());
    const api = await start({ DATABASE_URL: source.url, AIRLOCK_DATA_DIR: tempDir('backup-src') });
    let before;
    let tokens;
    try {
      tokens = await enrollOne(api);
      before = await snapshot(api, tokens);
      expect(before.verify).toEqual({ status: 200, body: { agent_id: tokens.agentId, site_code: 'BACKUP', status: 'active' } });
      expect(before.audit.length).toBeGreaterThanOrEqual(6);
    } finally {
      await api.close();
    }

    // The documented commands, as an operator runs them.
    const dump = path.join(tempDir('backup-dump'), 'airlock.dump');
    await run('pg_dump', ['--format=custom', '--no-owner', `--file=${dump}`, source.url]);
    const target = await createTestDatabase('airlock_test_backup_dst');
    cleanups.push(() => target.drop());
    await run('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${target.url}`, dump]);

    const restored = await start({ DATABASE_URL: target.url, AIRLOCK_DATA_DIR: tempDir('backup-dst') });
    try {
      const after = await snapshot(restored, tokens);
      expect(after.verify).toEqual(before.verify);
      expect(after.audit.slice(-before.audit.length)).toEqual(before.audit);
      const sql = postgres(target.url, { max: 1, onnotice: () => {} });
      try {
        await expect(sql`update audit_events set actor = 'rewritten'`).rejects.toThrow(/append-only/);
      } finally {
        await sql.end();
      }
    } finally {
      await restored.close();
    }
  }, 120_000);
});

describe('embedded (PGlite): stop the api and copy the data directory', () => {
  it('starts on the copy with the cak_ verifying and the audit trail intact', async () => {
    const dataDir = tempDir('backup-embedded');
    const api = await start({ AIRLOCK_DATA_DIR: dataDir });
    let before;
    let tokens;
    try {
      tokens = await enrollOne(api);
      before = await snapshot(api, tokens);
      expect(before.verify.status).toBe(200);
    } finally {
      await api.close(); // the copy is only consistent with the api stopped
    }
    const copy = path.join(tempDir('backup-embedded-copy'), 'airlock');
    cpSync(dataDir, copy, { recursive: true });
    const restored = await start({ AIRLOCK_DATA_DIR: copy });
    try {
      const after = await snapshot(restored, tokens);
      expect(after.verify).toEqual(before.verify);
      expect(after.audit.slice(-before.audit.length)).toEqual(before.audit);
    } finally {
      await restored.close();
    }
  }, 240_000);
});
