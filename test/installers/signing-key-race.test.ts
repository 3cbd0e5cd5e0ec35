/**
 * Two api processes on one data directory ask for the installer signing key
 * at once, before either has one: exactly one key is made, and both answer
 * it (the key is written aside and hard-linked into place; the loser reads
 * the winner's).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAdminDatabase } from '@airlock/api/admin';
import { createTestDatabase, freePort, spawnManaged, waitForHttp, type ManagedProcess, type TestDatabase } from '@airlock/testing';

let db: TestDatabase;
let dataDir: string;
let token: string;
const apis: { proc: ManagedProcess; url: string }[] = [];

beforeAll(async () => {
  db = await createTestDatabase('airlock_signing_race');
  dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-signing-race-'));
  // One after the other: both migrate the same database at start.
  for (let i = 0; i < 2; i += 1) {
    const port = await freePort();
    const proc = spawnManaged(['apps/api/src/main.ts'], {
      DATABASE_URL: db.url,
      AIRLOCK_SECRET: 'race-secret-'.padEnd(40, 'x'),
      AIRLOCK_DATA_DIR: dataDir,
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      API_METRICS_PORT: '0',
      AIRLOCK_LOG_LEVEL: 'warn',
    });
    apis.push({ proc, url: `http://127.0.0.1:${port}` });
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, proc);
  }
  token = await withAdminDatabase(db.url, async (d) => (await d.createOperator({ name: `race-${randomBytes(3).toString('hex')}`, role: 'admin' }, 'test')).token);
}, 180_000);

afterAll(async () => {
  await Promise.all(apis.map((a) => a.proc.stop()));
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the installer signing key under a race', { timeout: 120_000 }, () => {
  it('is made once when two api processes need it at the same moment', async () => {
    expect(readdirSync(dataDir)).not.toContain('installer-signing');
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fetch(`${apis[i % 2]?.url}/api/v1/admin/installers/allowed-signers`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { allowed_signers: string },
        })),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 8 }, () => 200));
    expect(new Set(answers.map((a) => a.body.allowed_signers)).size).toBe(1);
    expect(answers[0]?.body.allowed_signers.trimEnd().split('\n')).toHaveLength(1);
    expect(readdirSync(path.join(dataDir, 'installer-signing'))).toEqual(['current.key']);
  });
});
