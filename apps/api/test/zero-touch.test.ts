/** Zero-touch enrollment with per-site enrollment keys (cek_), machine identity and the collision gate. */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import { createSite, enroll, pollAfterInterval, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { latestAudit, snapshotState } from './snapshot.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'AUTO-SITE', 'auto');
  await createSite(t, 'MANUAL-SITE', 'manual');
});
afterAll(async () => t.close());

const rotate = async (site: string, body: Record<string, unknown> = {}) => {
  const r = await t.admin('post', `/api/v1/admin/sites/${site}/enrollment-key`).send(body);
  expect(r.status).toBe(201);
  return r.body as { key: string; version: number; fingerprint: string };
};

let uidCounter = 0;
const newUid = () => `uid-${Date.now()}-${uidCounter++}`;

const keyEnroll = (site: string, key: string, agent: TestAgentKey, uid: string, hostname = 'node-1') =>
  enroll(t, { site_code: site, enrollment_key: key, public_key: agent.publicKey, hostname, machine_uid: uid });

/** Enroll with a site key, answer the challenge, and collect credentials when approved. */
const fullKeyEnroll = async (site: string, key: string, uid: string, hostname = 'node-1') => {
  const agent = newAgentKey();
  const e = await keyEnroll(site, key, agent, uid, hostname);
  expect(e.status).toBe(201);
  const v = await verify(t, e.body.enrollment_id, agent.sign(e.body.enrollment_id, e.body.challenge));
  expect(v.status).toBe(200);
  return { enrollmentId: e.body.enrollment_id as string, verify: v.body, agent };
};

const internalVerify = (agentKey: string) =>
  t.http.post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${t.serviceToken}`).send({ agent_key: agentKey });

describe('site enrollment keys', () => {
  it('shows a new key once with its vN (XXXX) fingerprint and describes it without the key', async () => {
    const k = await rotate('AUTO-SITE');
    expect(k.key).toMatch(/^cek_[A-Za-z0-9_-]{43}$/);
    expect(k.fingerprint).toMatch(new RegExp(`^v${k.version} \\([0-9A-F]{4}\\)$`));
    const d = await t.admin('get', '/api/v1/admin/sites/AUTO-SITE/enrollment-key');
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ version: k.version, fingerprint: k.fingerprint, use_count: 0, last_used_at: null, created_by: 'alice' });
    expect(JSON.stringify(d.body)).not.toContain(k.key);
  });

  it('rotates with an empty POST, and refuses a body that is not declared JSON', async () => {
    const empty = await t.http.post('/api/v1/admin/sites/MANUAL-SITE/enrollment-key').set('authorization', `Bearer ${t.adminToken}`);
    expect(empty.status).toBe(201);
    // No limits asked for: the defaults apply (#8.11).
    expect(empty.body.max_uses).toBe(1000);
    const undeclared = await t.http
      .post('/api/v1/admin/sites/MANUAL-SITE/enrollment-key')
      .set('authorization', `Bearer ${t.adminToken}`)
      .set('content-type', 'text/plain')
      .send('{"max_uses":1}');
    expect(undeclared.status).toBe(415);
  });

  it('rotation refuses the old key at once, accepts the new one, and leaves enrolled agents working', async () => {
    const old = await rotate('AUTO-SITE');
    const first = await fullKeyEnroll('AUTO-SITE', old.key, newUid());
    expect(first.verify.status).toBe('approved');
    const creds = await status(t, first.verify.poll_token);
    expect(creds.status).toBe(200);
    const agentKey = creds.body.credentials.agent_key as string;

    const fresh = await rotate('AUTO-SITE');
    expect(fresh.version).toBe(old.version + 1);
    const refused = await keyEnroll('AUTO-SITE', old.key, newAgentKey(), newUid());
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('enrollment_denied');
    expect((await keyEnroll('AUTO-SITE', fresh.key, newAgentKey(), newUid())).status).toBe(201);
    expect((await internalVerify(agentKey)).status).toBe(200);

    const d = await t.admin('get', '/api/v1/admin/sites/AUTO-SITE/enrollment-key');
    expect(d.body.use_count).toBe(1);
    expect(d.body.last_used_at).not.toBeNull();
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=site.enrollment_key_rotated');
    expect(JSON.stringify(audit.body)).not.toContain(fresh.key);
  });

  it('follows the site policy: auto approves at once, manual waits for an operator', async () => {
    const auto = await rotate('AUTO-SITE');
    expect((await fullKeyEnroll('AUTO-SITE', auto.key, newUid())).verify.status).toBe('approved');
    const manual = await rotate('MANUAL-SITE');
    const m = await fullKeyEnroll('MANUAL-SITE', manual.key, newUid());
    expect(m.verify.status).toBe('awaiting_approval');
    expect((await status(t, m.verify.poll_token)).status).toBe(202);
  });

  it('honours an expiry and a maximum number of uses set at rotation', async () => {
    const limited = await rotate('MANUAL-SITE', { max_uses: 2 });
    expect((await keyEnroll('MANUAL-SITE', limited.key, newAgentKey(), newUid())).status).toBe(201);
    expect((await keyEnroll('MANUAL-SITE', limited.key, newAgentKey(), newUid())).status).toBe(201);
    expect((await keyEnroll('MANUAL-SITE', limited.key, newAgentKey(), newUid())).status).toBe(401);

    const expiring = await rotate('MANUAL-SITE', { expires_in_seconds: 3600 });
    expect((await keyEnroll('MANUAL-SITE', expiring.key, newAgentKey(), newUid())).status).toBe(201);
    t.clock.advance(3601_000);
    expect((await keyEnroll('MANUAL-SITE', expiring.key, newAgentKey(), newUid())).status).toBe(401);
  });

  it('gives one identical 401 body for unknown site, wrong, rotated-out, expired and used-up keys', async () => {
    const used = await rotate('MANUAL-SITE', { max_uses: 1 });
    expect((await keyEnroll('MANUAL-SITE', used.key, newAgentKey(), newUid())).status).toBe(201);
    const expired = await rotate('MANUAL-SITE', { expires_in_seconds: 60 });
    t.clock.advance(61_000);
    const rotatedOut = expired;
    const current = await rotate('MANUAL-SITE');
    const wrong = `cek_${'B'.repeat(43)}`;
    const causes: Array<[string, string]> = [
      ['NO-SUCH-SITE', current.key],
      ['AUTO-SITE', current.key],
      ['MANUAL-SITE', wrong],
      ['MANUAL-SITE', rotatedOut.key],
      ['MANUAL-SITE', used.key],
    ];
    const bodies = new Set<string>();
    for (const [site, key] of causes) {
      const r = await keyEnroll(site, key, newAgentKey(), newUid());
      expect(r.status).toBe(401);
      bodies.add(JSON.stringify(r.body));
    }
    expect(bodies.size).toBe(1);
  });
});

describe('machine identity', () => {
  it('re-enrolls the same machine onto its agent row and revokes its older keys when the new one is issued', async () => {
    const k = await rotate('AUTO-SITE');
    const uid = newUid();
    const first = await fullKeyEnroll('AUTO-SITE', k.key, uid, 'reimaged');
    const c1 = await status(t, first.verify.poll_token);
    const oldKey = c1.body.credentials.agent_key as string;
    // A new key for an active agent goes through without an operator only when its current key signs the change (#8.2).
    const next = newAgentKey();
    const e2 = await keyEnroll('AUTO-SITE', k.key, next, uid, 'reimaged');
    expect(e2.status).toBe(201);
    const v2 = await t.http.post('/api/v1/enroll/verify').send({
      enrollment_id: e2.body.enrollment_id,
      signature: next.sign(e2.body.enrollment_id, e2.body.challenge),
      rekey_signature: first.agent.signRekey(e2.body.enrollment_id, e2.body.challenge, next.fingerprint),
    });
    expect(v2.status).toBe(200);
    const second = { verify: v2.body };
    expect(second.verify.status).toBe('approved');
    // The old key keeps working until the new one is actually handed out.
    expect((await internalVerify(oldKey)).status).toBe(200);
    const c2 = await status(t, second.verify.poll_token);
    expect(c2.status).toBe(200);
    expect(c2.body.agent_id).toBe(c1.body.agent_id);
    expect((await internalVerify(oldKey)).status).toBe(401);
    expect((await internalVerify(c2.body.credentials.agent_key)).status).toBe(200);
    const reuse = await t.admin('get', `/api/v1/admin/audit?event_type=enroll.reuse&agent_id=${c1.body.agent_id}`);
    expect(reuse.body.items).toHaveLength(1);
  });

  it('refuses a machine of another site with 409 site_conflict, changing nothing', async () => {
    const a = await rotate('AUTO-SITE');
    const uid = newUid();
    await status(t, (await fullKeyEnroll('AUTO-SITE', a.key, uid)).verify.poll_token);
    const m = await rotate('MANUAL-SITE');
    const before = await snapshotState(t);
    const r = await keyEnroll('MANUAL-SITE', m.key, newAgentKey(), uid);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('site_conflict');
    const after = await snapshotState(t);
    expect(after.tables).toEqual(before.tables);
    expect(after.auditCount).toBe(before.auditCount + 1);
    expect((await latestAudit(t))?.event_type).toBe('enroll.site_conflict');
    expect(t.logs.some((l) => l.includes('"level":"warn"') && l.includes('enroll.site_conflict'))).toBe(true);
  });

  it('denies a verify whose machine another site claimed since the enroll (verify has no 409 in the contract)', async () => {
    const a = await rotate('AUTO-SITE');
    const m = await rotate('MANUAL-SITE');
    const uid = newUid();
    const slow = newAgentKey();
    const e = await keyEnroll('MANUAL-SITE', m.key, slow, uid);
    expect(e.status).toBe(201);
    const fast = await fullKeyEnroll('AUTO-SITE', a.key, uid);
    expect(fast.verify.status).toBe('approved');
    const v = await verify(t, e.body.enrollment_id, slow.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.status).toBe(401);
    expect(v.body.error.code).toBe('enrollment_denied');
    expect((await latestAudit(t))?.event_type).toBe('enroll.site_conflict');
  });

  it('lets an operator move a machine by revoking its agent at the old site first', async () => {
    const a = await rotate('AUTO-SITE');
    const uid = newUid();
    const first = await fullKeyEnroll('AUTO-SITE', a.key, uid);
    const creds = await status(t, first.verify.poll_token);
    const m = await rotate('MANUAL-SITE');
    expect((await keyEnroll('MANUAL-SITE', m.key, newAgentKey(), uid)).status).toBe(409);
    expect((await t.admin('post', `/api/v1/admin/agents/${creds.body.agent_id}/revoke`).send({ reason: 'moving to MANUAL-SITE' })).status).toBe(200);
    const moved = await fullKeyEnroll('MANUAL-SITE', m.key, uid);
    expect(moved.verify.status).toBe('awaiting_approval');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${moved.enrollmentId}/approve`).send({})).status).toBe(200);
    const newCreds = await pollAfterInterval(t, moved.verify.poll_token);
    expect(newCreds.status).toBe(200);
    expect(newCreds.body.site_code).toBe('MANUAL-SITE');
    expect(newCreds.body.agent_id).not.toBe(creds.body.agent_id);
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=agent.machine_moved&agent_id=${creds.body.agent_id}`);
    expect(audit.body.items).toHaveLength(1);
  });

  it('holds a clone (same uid, recently seen, other hostname) as pending_confirmation for an operator', async () => {
    const k = await rotate('AUTO-SITE');
    const uid = newUid();
    const original = await fullKeyEnroll('AUTO-SITE', k.key, uid, 'template-a');
    const creds = await status(t, original.verify.poll_token);
    expect(creds.status).toBe(200);
    const clone = await fullKeyEnroll('AUTO-SITE', k.key, uid, 'template-b');
    expect(clone.verify.status).toBe('pending_confirmation');
    const waiting = await pollAfterInterval(t, clone.verify.poll_token);
    expect(waiting.status).toBe(202);
    expect(waiting.body.status).toBe('pending_confirmation');
    const listed = await t.admin('get', '/api/v1/admin/enrollments?status=pending_confirmation');
    expect(listed.body.items.map((i: { id: string }) => i.id)).toContain(clone.enrollmentId);
    // The original keeps working while the clone waits.
    expect((await internalVerify(creds.body.credentials.agent_key)).status).toBe(200);
    expect((await t.admin('post', `/api/v1/admin/enrollments/${clone.enrollmentId}/approve`).send({ notes: 'real re-image' })).status).toBe(200);
    const cloneCreds = await pollAfterInterval(t, clone.verify.poll_token);
    expect(cloneCreds.status).toBe(200);
    expect(cloneCreds.body.agent_id).toBe(creds.body.agent_id);
  });

  it('converges 20 concurrent first enrollments of one machine on a single agent row', async () => {
    const k = await rotate('AUTO-SITE');
    const uid = newUid();
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const agent = newAgentKey();
        const e = await keyEnroll('AUTO-SITE', k.key, agent, uid, 'burst');
        if (e.status !== 201) return e.status;
        const v = await verify(t, e.body.enrollment_id, agent.sign(e.body.enrollment_id, e.body.challenge));
        if (v.status !== 200) return v.status;
        return (await status(t, v.body.poll_token)).status;
      }),
    );
    expect(results.filter((s) => s >= 500)).toEqual([]);
    expect(results.every((s) => s === 200 || s === 202)).toBe(true);
    const rows = await t.api.deps.db.execute<{ n: number }>(sql`select count(*)::int as n from agents where machine_uid = ${uid}`);
    expect(rows[0]?.n).toBe(1);
  });
});
