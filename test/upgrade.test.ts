/**
 * Upgrade from the first release's schema: a database built with migration
 * 0000 only and filled the way that release filled it (plain SQL against the
 * 0000 columns, so later migrations cannot change what "old data" means),
 * migrated to the latest by the api's own migrator at start. Then: the old
 * agent's cak_ verifies, the old audit rows read back, the old pending
 * enrollment is approved and its agent collects its key, and the append-only
 * rule of a later migration holds on the old rows.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mintSecret, secretDigest, secretDisplayStart, sshFingerprint, parseSshEd25519PublicKey } from '@airlock/crypto';
import postgres from 'postgres';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedMigrationCount, loadApiConfig, MIGRATIONS_FOLDER, runMigrations, type RunningApi, silentLogger, startApi } from '@airlock/api/testing';
import { createTestDatabase, newAgentKey, type TestDatabase } from '@airlock/testing';

let db: TestDatabase;
let api: RunningApi;
let work: string;
const old = {
  adminToken: mintSecret('aop'),
  serviceToken: mintSecret('aop'),
  cak: mintSecret('cak'),
  pollToken: mintSecret('ept'),
  agentId: '11111111-1111-4111-8111-111111111111',
  approvedEnrollment: '22222222-2222-4222-8222-222222222222',
  pendingEnrollment: '33333333-3333-4333-8333-333333333333',
  labels: { company: 'Acme', department: 'IT' },
};

/** A migrations folder holding only the first migration, with a journal to match. */
const firstMigrationOnly = (dir: string): string => {
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
  const first = journal.entries[0];
  if (!first) throw new Error('no migrations');
  mkdirSync(path.join(dir, 'meta'), { recursive: true });
  copyFileSync(path.join(MIGRATIONS_FOLDER, `${first.tag}.sql`), path.join(dir, `${first.tag}.sql`));
  writeFileSync(path.join(dir, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries: [first] }));
  return dir;
};

beforeAll(async () => {
  db = await createTestDatabase('airlock_test_upgrade');
  work = mkdtempSync(path.join(tmpdir(), 'airlock-upgrade-'));
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await runMigrations(sql, firstMigrationOnly(path.join(work, 'migrations')));
    const [applied] = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(applied?.n).toBe(1);

    const agentKey = newAgentKey('old-vm');
    const pendingKey = newAgentKey('new-vm');
    const fp = (line: string) => sshFingerprint(parseSshEd25519PublicKey(line).blob);
    // ISO strings: the driver sends them as text and Postgres casts them to timestamptz.
    const now = new Date().toISOString();
    const inOneDay = new Date(Date.now() + 86_400_000).toISOString();
    await sql`insert into sites (code, name, policy, created_by) values ('OLD-SITE', 'Old site', 'manual', 'admin')`;
    for (const [name, role, token] of [['old-admin', 'admin', old.adminToken], ['old-mgmt', 'service', old.serviceToken]] as const) {
      const [op] = await sql<{ id: string }[]>`insert into operators (name, role) values (${name}, ${role}) returning id`;
      await sql`insert into operator_tokens (operator_id, digest, start) values (${op?.id ?? ''}, ${secretDigest(token)}, ${secretDisplayStart(token)})`;
    }
    // An approved enrollment whose agent collected its key...
    await sql`insert into enrollments (id, site_code, method, public_key, fingerprint, hostname, source_ip, challenge, challenge_expires_at, status, poll_interval, agent_id, decided_by, decided_at, credentials_issued_at, labels)
      values (${old.approvedEnrollment}, 'OLD-SITE', 'pairing_code', ${agentKey.publicKey}, ${fp(agentKey.publicKey)}, 'old-vm', '198.51.100.7', 'c1', ${now}, 'approved', 5, ${old.agentId}, 'old-admin', ${now}, ${now}, ${JSON.stringify(old.labels)}::jsonb)`;
    await sql`insert into agents (id, site_code, enrollment_id, public_key, fingerprint, hostname, status, created_by, last_seen_at)
      values (${old.agentId}, 'OLD-SITE', ${old.approvedEnrollment}, ${agentKey.publicKey}, ${fp(agentKey.publicKey)}, 'old-vm', 'active', 'old-admin', ${now})`;
    await sql`insert into agent_keys (agent_id, digest, start) values (${old.agentId}, ${secretDigest(old.cak)}, ${secretDisplayStart(old.cak)})`;
    // ...and one still waiting for an operator, its agent polling with an ept_.
    await sql`insert into enrollments (id, site_code, method, public_key, fingerprint, hostname, source_ip, challenge, challenge_expires_at, status, poll_token_digest, poll_interval, approval_expires_at)
      values (${old.pendingEnrollment}, 'OLD-SITE', 'pairing_code', ${pendingKey.publicKey}, ${fp(pendingKey.publicKey)}, 'new-vm', '198.51.100.8', 'c2', ${now}, 'awaiting_approval', ${secretDigest(old.pollToken)}, 5, ${inOneDay})`;
    for (const [type, enrollment, agent] of [
      ['enroll.created', old.approvedEnrollment, null],
      ['enrollment.approved', old.approvedEnrollment, old.agentId],
      ['credentials.issued', old.approvedEnrollment, old.agentId],
      ['enroll.created', old.pendingEnrollment, null],
    ] as const) {
      await sql`insert into audit_events (event_type, actor, site_code, enrollment_id, agent_id, occurred_at, details)
        values (${type}, 'old-admin', 'OLD-SITE', ${enrollment}, ${agent}, ${now}, ${JSON.stringify({ from: 'v0000' })}::jsonb)`;
    }
  } finally {
    await sql.end();
  }
  // The api migrates to the latest at start, as an upgrade does.
  api = await startApi(loadApiConfig({ DATABASE_URL: db.url, AIRLOCK_SECRET: 'upgrade-secret-'.padEnd(40, 'x'), API_PORT: '0', AIRLOCK_DATA_DIR: work }), { logger: silentLogger });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const http = () => supertest(api.url);

describe('upgrade from the first migration to the latest', () => {
  it('applies every later migration', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [applied] = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(applied?.n).toBe(expectedMigrationCount());
      expect(applied?.n).toBeGreaterThan(1);
      // A later migration's rule (append-only audit) now covers the old rows too.
      await expect(sql`delete from audit_events where details->>'from' = 'v0000'`).rejects.toThrow(/append-only/);
    } finally {
      await sql.end();
    }
    expect((await http().get('/readyz')).status).toBe(200);
  });

  it('puts every existing site, operator and agent in the default tenant, with the labels and approver the database knew', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      expect(await sql`select code from tenants`).toEqual([{ code: 'default' }]);
      expect(await sql`select code, tenant_code, allowed_cidrs from sites`).toEqual([{ code: 'OLD-SITE', tenant_code: 'default', allowed_cidrs: [] }]);
      expect(await sql`select name, tenant_code from operators order by name`).toEqual([
        { name: 'old-admin', tenant_code: null },
        { name: 'old-mgmt', tenant_code: null },
      ]);
      const [agent] = await sql`select tenant_code, labels, approved_by, approved_at is not null as approved from agents`;
      expect(agent).toEqual({ tenant_code: 'default', labels: old.labels, approved_by: 'old-admin', approved: true });
      // The default tenant cannot be removed: every upgraded row depends on it.
      await expect(sql`delete from tenants where code = 'default'`).rejects.toThrow(/default tenant/);
    } finally {
      await sql.end();
    }
    const agents = await http().get('/api/v1/admin/agents').set('authorization', `Bearer ${old.adminToken}`);
    expect(agents.body.items).toEqual([expect.objectContaining({ id: old.agentId, tenant_code: 'default', labels: old.labels, approved_by: 'old-admin' })]);
  });

  it("verifies the old agent's cak_ with the old service token", async () => {
    const res = await http().post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${old.serviceToken}`).send({ agent_key: old.cak });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ agent_id: old.agentId, site_code: 'OLD-SITE', status: 'active' });
  });

  it('reads the old audit rows', async () => {
    const res = await http().get('/api/v1/admin/audit?site_code=OLD-SITE&limit=50').set('authorization', `Bearer ${old.adminToken}`);
    expect(res.status).toBe(200);
    const oldRows = (res.body.items as Array<{ event_type: string; details: { from?: string } }>).filter((r) => r.details.from === 'v0000');
    expect(oldRows.map((r) => r.event_type).sort()).toEqual(['credentials.issued', 'enroll.created', 'enroll.created', 'enrollment.approved']);
  });

  it('approves the old pending enrollment, and its agent collects a key that verifies', async () => {
    const pending = await http().get('/api/v1/admin/enrollments?status=awaiting_approval').set('authorization', `Bearer ${old.adminToken}`);
    expect(pending.body.items.map((e: { id: string }) => e.id)).toEqual([old.pendingEnrollment]);
    const approve = await http().post(`/api/v1/admin/enrollments/${old.pendingEnrollment}/approve`).set('authorization', `Bearer ${old.adminToken}`).send({ notes: 'after upgrade' });
    expect(approve.status).toBe(200);
    const status = await http().get('/api/v1/enroll/status').set('authorization', `Bearer ${old.pollToken}`);
    expect(status.status).toBe(200);
    expect(status.body.status).toBe('approved');
    const cak = status.body.credentials.agent_key as string;
    const verify = await http().post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${old.serviceToken}`).send({ agent_key: cak });
    expect(verify.status).toBe(200);
    expect(verify.body.site_code).toBe('OLD-SITE');
  });
});
