/**
 * Issue #8, api side: machine_uid takeover (#8.2), verify replay (#8.4) and
 * revocation of credentials approved but never collected (#8.5), each as the
 * attack against the real api on real Postgres.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import { createCode, createSite, enroll, enrollBody, pollAfterInterval, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { runCli } from '@airlock/cli/run';

let t: TestApi;
let cek: string;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'AUTO-HQ', 'auto');
  await createSite(t, 'MANUAL-HQ', 'manual');
  const r = await t.admin('post', '/api/v1/admin/sites/AUTO-HQ/enrollment-key').send({});
  expect(r.status).toBe(201);
  cek = r.body.key;
});
afterAll(async () => t.close());

let n = 0;
const uid = () => `victim-uid-${Date.now()}-${n++}`;

const internalVerify = (agentKey: string) =>
  t.http.post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${t.serviceToken}`).send({ agent_key: agentKey });

/** Enroll with the site key and answer the challenge, optionally with a re-key proof by `previous`. */
const keyEnrollVerify = async (machineUid: string, hostname: string, agent: TestAgentKey, rekey?: (id: string, challenge: string) => string) => {
  const e = await enroll(t, { site_code: 'AUTO-HQ', enrollment_key: cek, public_key: agent.publicKey, hostname, machine_uid: machineUid });
  expect(e.status).toBe(201);
  const id = e.body.enrollment_id as string;
  const challenge = e.body.challenge as string;
  const v = await t.http.post('/api/v1/enroll/verify').send({
    enrollment_id: id,
    signature: agent.sign(id, challenge),
    ...(rekey ? { rekey_signature: rekey(id, challenge) } : {}),
  });
  expect(v.status).toBe(200);
  return { id, challenge, verify: v.body as { status: string; poll_token: string } };
};

/** A victim agent enrolled under `auto`, credentials collected. */
const enrolledVictim = async () => {
  const machineUid = uid();
  const key = newAgentKey();
  const v = await keyEnrollVerify(machineUid, 'vma-01', key);
  expect(v.verify.status).toBe('approved');
  const creds = await status(t, v.verify.poll_token);
  expect(creds.status).toBe(200);
  return { machineUid, key, agentId: creds.body.agent_id as string, cak: creds.body.credentials.agent_key as string };
};

describe('#8.2 takeover by machine_uid', () => {
  it("a holder of the site's cek_ enrolling with the victim's machine_uid and hostname under auto no longer re-keys the victim", async () => {
    const victim = await enrolledVictim();
    const attacker = newAgentKey();
    const attack = await keyEnrollVerify(victim.machineUid, 'vma-01', attacker);
    expect(attack.verify.status).toBe('pending_confirmation');
    const poll = await pollAfterInterval(t, attack.verify.poll_token);
    expect(poll.status).toBe(202);
    expect(poll.body.status).toBe('pending_confirmation');
    // The victim's key still verifies.
    expect((await internalVerify(victim.cak)).status).toBe(200);

    // The operator sees what an approval would replace: the agent, its old fingerprint and the new one.
    const listed = await t.admin('get', '/api/v1/admin/enrollments?status=pending_confirmation');
    const item = listed.body.items.find((i: { id: string }) => i.id === attack.id);
    expect(item).toMatchObject({
      replaces_agent_id: victim.agentId,
      replaces_fingerprint: victim.key.fingerprint,
      fingerprint: attacker.fingerprint,
      rekey_signed: false,
    });
    let out = '';
    const code = await runCli(['pending'], {
      io: { out: (s) => (out += s), err: (s) => (out += s) },
      env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.auditorToken },
    });
    expect(code, out).toBe(0);
    expect(out).toContain(`replaces agent ${victim.agentId}`);
    expect(out).toContain(`${victim.key.fingerprint} -> ${attacker.fingerprint}`);
  });

  it('a re-key proof made by any key but the current one counts for nothing', async () => {
    const victim = await enrolledVictim();
    const attacker = newAgentKey();
    const attack = await keyEnrollVerify(victim.machineUid, 'vma-01', attacker, (id, ch) => attacker.signRekey(id, ch, attacker.fingerprint));
    expect(attack.verify.status).toBe('pending_confirmation');
    expect((await internalVerify(victim.cak)).status).toBe(200);
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=verify.ok&agent_id=${victim.agentId}`);
    expect(audit.body.items[0].details.reason).toBe('rekey_signature_invalid');
  });

  it('the legitimate re-key, signed by the current key, goes through under auto and retires the old key', async () => {
    const victim = await enrolledVictim();
    const next = newAgentKey();
    const rekey = await keyEnrollVerify(victim.machineUid, 'vma-01', next, (id, ch) => victim.key.signRekey(id, ch, next.fingerprint));
    expect(rekey.verify.status).toBe('approved');
    const creds = await status(t, rekey.verify.poll_token);
    expect(creds.status).toBe(200);
    expect(creds.body.agent_id).toBe(victim.agentId);
    expect((await internalVerify(victim.cak)).status).toBe(401);
    expect((await internalVerify(creds.body.credentials.agent_key)).status).toBe(200);
  });

  it('shows the replacement live: an enrollment verified before the machine had an agent says whom it would now replace', async () => {
    const machineUid = uid();
    const early = newAgentKey();
    const { code } = await createCode(t, 'MANUAL-HQ');
    const e = await enroll(t, enrollBody(early, 'MANUAL-HQ', code, { machine_uid: machineUid }));
    const v = await verify(t, e.body.enrollment_id, early.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.body.status).toBe('awaiting_approval');
    const find = async () =>
      (await t.admin('get', '/api/v1/admin/enrollments?status=awaiting_approval')).body.items.find((i: { id: string }) => i.id === e.body.enrollment_id);
    expect((await find()).replaces_agent_id).toBeNull();

    // Meanwhile the machine is enrolled and approved through another enrollment.
    const owner = newAgentKey();
    const second = await createCode(t, 'MANUAL-HQ');
    const e2 = await enroll(t, enrollBody(owner, 'MANUAL-HQ', second.code, { machine_uid: machineUid }));
    await verify(t, e2.body.enrollment_id, owner.sign(e2.body.enrollment_id, e2.body.challenge));
    expect((await t.admin('post', `/api/v1/admin/enrollments/${e2.body.enrollment_id}/approve`).send({})).status).toBe(200);
    const agentId = (await t.admin('get', '/api/v1/admin/enrollments?status=approved')).body.items.find((i: { id: string }) => i.id === e2.body.enrollment_id).agent_id;
    expect(await find()).toMatchObject({ replaces_agent_id: agentId, replaces_fingerprint: owner.fingerprint, fingerprint: early.fingerprint });
  });

  it('an operator can still approve an unsigned key change after looking at it', async () => {
    const victim = await enrolledVictim();
    const reimaged = newAgentKey();
    const held = await keyEnrollVerify(victim.machineUid, 'vma-01', reimaged);
    expect(held.verify.status).toBe('pending_confirmation');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${held.id}/approve`).send({ notes: 're-imaged by Dana' })).status).toBe(200);
    const creds = await pollAfterInterval(t, held.verify.poll_token);
    expect(creds.status).toBe(200);
    expect(creds.body.agent_id).toBe(victim.agentId);
    expect((await internalVerify(victim.cak)).status).toBe(401);
  });
});

describe('#8.4 verify replay', () => {
  it('a captured verify replayed after approval and the first poll is 401 enrollment_denied, and the real agent keeps its token', async () => {
    const key = newAgentKey();
    const { code } = await createCode(t, 'MANUAL-HQ');
    const e = await enroll(t, enrollBody(key, 'MANUAL-HQ', code));
    const captured = { enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) };
    const v = await t.http.post('/api/v1/enroll/verify').send(captured);
    expect(v.status).toBe(200);
    expect((await pollAfterInterval(t, v.body.poll_token)).status).toBe(202);
    expect((await t.admin('post', `/api/v1/admin/enrollments/${e.body.enrollment_id}/approve`).send({})).status).toBe(200);

    const replay = await t.http.post('/api/v1/enroll/verify').send(captured);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('enrollment_denied');
    const creds = await pollAfterInterval(t, v.body.poll_token);
    expect(creds.status).toBe(200);
    expect(creds.body.credentials.agent_key).toMatch(/^cak_/);
  });

  it('a retry before the first poll still answers 200 with a fresh token that replaces the old one', async () => {
    const key = newAgentKey();
    const { code } = await createCode(t, 'MANUAL-HQ');
    const e = await enroll(t, enrollBody(key, 'MANUAL-HQ', code));
    const sig = key.sign(e.body.enrollment_id, e.body.challenge);
    const first = await verify(t, e.body.enrollment_id, sig);
    const retry = await verify(t, e.body.enrollment_id, sig);
    expect(retry.status).toBe(200);
    expect(retry.body.poll_token).not.toBe(first.body.poll_token);
    expect((await status(t, first.body.poll_token)).status).toBe(401);
    expect((await status(t, retry.body.poll_token)).status).toBe(202);
    // Polled now: no more repeats.
    expect((await verify(t, e.body.enrollment_id, sig)).status).toBe(401);
  });
});

describe('#8.5 revocation cancels credentials not yet collected', () => {
  /** A pairing-code enrollment for `machineUid`, approved, its status answer never read. */
  const approvedUncollected = async (machineUid: string) => {
    const key = newAgentKey();
    const { code } = await createCode(t, 'MANUAL-HQ');
    const e = await enroll(t, enrollBody(key, 'MANUAL-HQ', code, { machine_uid: machineUid }));
    const v = await verify(t, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.status).toBe(200);
    const a = await t.admin('post', `/api/v1/admin/enrollments/${e.body.enrollment_id}/approve`).send({});
    expect(a.status).toBe(200);
    const listed = await t.admin('get', '/api/v1/admin/enrollments?status=approved');
    const agentId = listed.body.items.find((i: { id: string }) => i.id === e.body.enrollment_id).agent_id as string;
    return { enrollmentId: e.body.enrollment_id as string, pollToken: v.body.poll_token as string, agentId };
  };

  it('revoking the agent cancels the uncollected credentials, and a later approval for the machine does not revive them', async () => {
    const machineUid = uid();
    const first = await approvedUncollected(machineUid);
    const revoke = await t.admin('post', `/api/v1/admin/agents/${first.agentId}/revoke`).send({ reason: 'stolen installer' });
    expect(revoke.status).toBe(200);
    const after = await pollAfterInterval(t, first.pollToken);
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('enrollment_rejected');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${first.enrollmentId}/approve`).send({})).status).toBe(409);

    // The machine comes back through a new enrollment an operator approves: the agent row is active again…
    const second = await approvedUncollected(machineUid);
    expect(second.agentId).toBe(first.agentId);
    // …and still the first enrollment's token gets nothing.
    const stale = await pollAfterInterval(t, first.pollToken);
    expect(stale.status).toBe(403);
    const fresh = await pollAfterInterval(t, second.pollToken);
    expect(fresh.status).toBe(200);
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=agent.revoked&agent_id=${first.agentId}`);
    expect(audit.body.items[0].details.cancelled_enrollments).toEqual([first.enrollmentId]);
  });

  it('a lock cycle that Postgres breaks is a 503 that changed nothing, and the same revoke again succeeds', async () => {
    const x = await approvedUncollected(uid());
    const sql = postgres(t.db?.url ?? '', { max: 1, onnotice: () => undefined });
    try {
      await sql.begin(async (tx) => {
        // Only the api's backend may be the one that finds the cycle and is rolled back.
        await tx`set local deadlock_timeout = '60s'`;
        await tx`select id from agents where id = ${x.agentId} for update`;
        // Revoke locks the uncollected enrollment, then waits here for the agent row…
        const revoking = t.admin('post', `/api/v1/admin/agents/${x.agentId}/revoke`).send({ reason: 'cycle' }).then((r) => r);
        for (let i = 0; ; i++) {
          const [row] = await tx`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
          if ((row?.n as number) > 0) break;
          if (i > 500) throw new Error('the revoke never waited for the agent row');
          await new Promise((r) => setTimeout(r, 20));
        }
        // …and this closes the cycle: enrollment → agent → enrollment.
        // (postgres.js sends a query when it is awaited or executed: execute it now.)
        const closing = tx`select id from enrollments where id = ${x.enrollmentId} for update`.execute();
        const r = await revoking;
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(r.body).toEqual({ error: { code: 'service_unavailable', message: 'Service temporarily unavailable; retry later' } });
        expect(JSON.stringify(r.body)).not.toMatch(/deadlock|40P01|stack/i);
        await closing;
      });
    } finally {
      await sql.end();
    }
    // Nothing changed: the agent is active, no revocation was audited, the credentials are still waiting.
    const agents = await t.admin('get', '/api/v1/admin/agents');
    expect(agents.body.items.find((a: { id: string }) => a.id === x.agentId)?.status).toBe('active');
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=agent.revoked&agent_id=${x.agentId}`);
    expect(audit.body.items).toHaveLength(0);
    expect(t.logs.some((l) => l.includes('transaction conflict'))).toBe(true);
    // The client's retry wins.
    const again = await t.admin('post', `/api/v1/admin/agents/${x.agentId}/revoke`).send({ reason: 'cycle' });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('revoked');
  });

  it('revoke raced against the status read: exactly one consistent outcome, never a live key for a revoked agent', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const machineUid = uid();
      const x = await approvedUncollected(machineUid);
      t.clock.advance(10_000);
      const [revoke, read] = await Promise.all([
        t.admin('post', `/api/v1/admin/agents/${x.agentId}/revoke`).send({}),
        status(t, x.pollToken),
      ]);
      expect(revoke.status).toBe(200);
      // The machine comes back through a new enrollment an operator approves: its agent row is active again.
      await approvedUncollected(machineUid);
      if (read.status === 200) {
        // Collected first: the key was issued, then revoked with its agent, and stays dead after the revival.
        expect((await internalVerify(read.body.credentials.agent_key)).status).toBe(401);
        outcomes.push('collected-then-revoked');
      } else {
        expect(read.status).toBe(403);
        expect(read.body.error.code).toBe('enrollment_rejected');
        outcomes.push('cancelled');
      }
      // Whatever won, a second read never yields credentials.
      const again = await pollAfterInterval(t, x.pollToken);
      expect([403, 410]).toContain(again.status);
    }
    expect(outcomes).toHaveLength(8);
  });
});
