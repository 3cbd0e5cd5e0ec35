/**
 * Issue 18, finding 4: revocation must stick on auto sites. The attack: a
 * revoked agent's own key, sent again with the site's enrollment key and a
 * new machine_uid, was auto-approved (a new cak_, working agent routes). Now
 * an enrollment whose key belongs to a revoked agent (and to no active one)
 * waits for an operator whatever the machine_uid, the site policy or the
 * pairing code's auto_approve, with the same answer as any other hold.
 * Revoking an agent of an auto site suggests rotating the site key, in the
 * CLI and the console.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, newAgentKey, type TestAgentKey } from '@airlock/testing';
import { createCode, createSite, enroll, enrollBody, pollAfterInterval, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { runCli } from '@airlock/cli/run';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';
import { challenge } from './credential-flows.ts';

const PW = 'correct horse battery staple';
let t: TestApi;
let cek: string;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'AUTO-REV', 'auto');
  await createSite(t, 'MANUAL-REV', 'manual');
  cek = (await t.admin('post', '/api/v1/admin/sites/AUTO-REV/enrollment-key').send({})).body.key;
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  await setOperatorPassword(t.api.deps.db, t.clock, 'audrey', PW, 'test', null);
});
afterAll(async () => t.close());

const uid = () => `rev-${randomUUID()}`;

/** Enroll with the site key and answer the challenge. */
const keyEnrollVerify = async (key: TestAgentKey, machineUid: string) => {
  const e = await enroll(t, { site_code: 'AUTO-REV', enrollment_key: cek, public_key: key.publicKey, hostname: 'vma-01', machine_uid: machineUid });
  expect(e.status).toBe(201);
  const v = await verify(t, e.body.enrollment_id, key.sign(e.body.enrollment_id, e.body.challenge));
  expect(v.status).toBe(200);
  return { enrollmentId: e.body.enrollment_id as string, verify: v };
};

/** An agent enrolled with the site key under auto, credentials collected, then revoked by an operator. */
const revokedVictim = async () => {
  const key = newAgentKey();
  const first = await keyEnrollVerify(key, uid());
  expect(first.verify.body.status).toBe('approved');
  const creds = await status(t, first.verify.body.poll_token);
  expect(creds.status).toBe(200);
  const agentId = creds.body.agent_id as string;
  const revoked = await t.admin('post', `/api/v1/admin/agents/${agentId}/revoke`).send({ reason: 'machine stolen' });
  expect(revoked.status).toBe(200);
  return { key, agentId, revoked: revoked.body };
};

describe("a revoked agent's key on an auto site", () => {
  it('with the site key and a new machine_uid is held for an operator: no approval, no cak_, no agent proof', async () => {
    const victim = await revokedVictim();
    const attack = await keyEnrollVerify(victim.key, uid());
    expect(attack.verify.body).toEqual({ status: 'awaiting_approval', poll_token: expect.stringMatching(/^ept_/), poll_interval: 5 });
    const poll = await pollAfterInterval(t, attack.verify.body.poll_token);
    expect(poll.status).toBe(202);
    expect(poll.body).toEqual({ status: 'awaiting_approval', poll_interval: 5 });
    expect(JSON.stringify(poll.body)).not.toContain('cak_');
    // The agent routes still know no active agent for that key.
    const c = await challenge(t, victim.key.fingerprint);
    const proof = await t.http
      .post('/api/v1/agent/credentials')
      .send({ fingerprint: victim.key.fingerprint, challenge_id: c.body.challenge_id, signature: victim.key.signAgent(c.body.challenge_id, c.body.challenge), rotate_agent_key: true });
    expect(proof.status).toBe(401);
    expect(proof.body.error.code).toBe('agent_denied');

    // The operator sees why it waits: the admin list, the audit row and the CLI name the revoked agent.
    const listed = await t.admin('get', '/api/v1/admin/enrollments?status=awaiting_approval');
    expect(listed.body.items.find((i: { id: string }) => i.id === attack.enrollmentId)).toMatchObject({ revoked_key_agent_id: victim.agentId });
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=verify.ok&site_code=AUTO-REV&limit=5`);
    expect(audit.body.items[0].details).toMatchObject({ status: 'awaiting_approval', reason: 'revoked_key', revoked_key_agent_id: victim.agentId });
    let out = '';
    const code = await runCli(['pending'], { io: { out: (s) => (out += s), err: (s) => (out += s) }, env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.auditorToken } });
    expect(code, out).toBe(0);
    expect(out).toContain(`${attack.enrollmentId} uses the key of REVOKED agent ${victim.agentId}`);
  });

  it('with a pairing code that auto-approves is held too', async () => {
    const victim = await revokedVictim();
    const { code } = await createCode(t, 'MANUAL-REV', { auto_approve: true });
    const e = await enroll(t, enrollBody(victim.key, 'MANUAL-REV', code, { machine_uid: uid() }));
    const v = await verify(t, e.body.enrollment_id, victim.key.sign(e.body.enrollment_id, e.body.challenge));
    expect(v.body.status).toBe('awaiting_approval');
  });

  it('answers exactly like any other hold (a manual site), and a fresh key on the same auto site is still approved at once', async () => {
    const victim = await revokedVictim();
    const held = await keyEnrollVerify(victim.key, uid());
    const { code } = await createCode(t, 'MANUAL-REV');
    const manualKey = newAgentKey();
    const e = await enroll(t, enrollBody(manualKey, 'MANUAL-REV', code));
    const manual = await verify(t, e.body.enrollment_id, manualKey.sign(e.body.enrollment_id, e.body.challenge));
    expect(held.verify.status).toBe(manual.status);
    expect(Object.keys(held.verify.body).sort()).toEqual(Object.keys(manual.body).sort());
    expect(held.verify.body.status).toBe(manual.body.status);
    expect(Object.keys(held.verify.headers).sort()).toEqual(Object.keys(manual.headers).sort());
    const fresh = await keyEnrollVerify(newAgentKey(), uid());
    expect(fresh.verify.body.status).toBe('approved');
  });

  it('comes back only by an operator\'s hand: approving gives the key a new agent, and its later re-enrollment is not held again', async () => {
    const victim = await revokedVictim();
    const machineUid = uid();
    const held = await keyEnrollVerify(victim.key, machineUid);
    expect((await t.admin('post', `/api/v1/admin/enrollments/${held.enrollmentId}/approve`).send({ notes: 'revoked by mistake' })).status).toBe(200);
    const creds = await pollAfterInterval(t, held.verify.body.poll_token);
    expect(creds.status).toBe(200);
    expect(creds.body.agent_id).not.toBe(victim.agentId);
    // The key now belongs to an active agent: nothing left to hold.
    const again = await keyEnrollVerify(victim.key, machineUid);
    expect(again.verify.body.status).toBe('approved');
  });
});

describe('revoking an agent of an auto site suggests rotating the site key', () => {
  it('says so in the admin answer and the CLI, and not for a manual site', async () => {
    const victim = await revokedVictim();
    expect(victim.revoked).toMatchObject({ id: victim.agentId, status: 'revoked', rotate_site_key_advised: true });

    const key = newAgentKey();
    const first = await keyEnrollVerify(key, uid());
    const agentId = (await status(t, first.verify.body.poll_token)).body.agent_id as string;
    let out = '';
    const code = await runCli(['revoke', agentId, '--reason', 'stolen'], {
      io: { out: (s) => (out += s), err: (s) => (out += s) },
      env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken },
    });
    expect(code, out).toBe(0);
    expect(out).toContain(`revoked agent ${agentId}`);
    expect(out).toContain('site AUTO-REV approves enrollment-key enrollments automatically (policy auto)');
    expect(out).toContain('  airlock sites key rotate AUTO-REV\n');

    const manualKey = newAgentKey();
    const { code: pairing } = await createCode(t, 'MANUAL-REV', { auto_approve: true });
    const e = await enroll(t, enrollBody(manualKey, 'MANUAL-REV', pairing));
    const v = await verify(t, e.body.enrollment_id, manualKey.sign(e.body.enrollment_id, e.body.challenge));
    const manualAgent = (await status(t, v.body.poll_token)).body.agent_id as string;
    let manualOut = '';
    await runCli(['revoke', manualAgent], { io: { out: (s) => (manualOut += s), err: (s) => (manualOut += s) }, env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken } });
    expect(manualOut).toBe(`revoked agent ${manualAgent} (vma-01, site MANUAL-REV)\n`);
  });

  it('shows the console a rotate button after the revocation, and a lasting hint on the Sites page until the key is rotated', async () => {
    const key = newAgentKey();
    const first = await keyEnrollVerify(key, uid());
    const agentId = (await status(t, first.verify.body.poll_token)).body.agent_id as string;
    const c = new ConsoleClient(t.api.url);
    expect((await c.signIn('alice', PW)).status).toBe(303);
    await c.get('/console/agents');
    const res = await c.post(`/console/agents/${agentId}/revoke`, { reason: 'stolen' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/agents?done=agent_revoked&rotate=AUTO-REV');
    const page = await c.get(res.headers.get('location') ?? '');
    expect(page.text).toMatch(/id="rotate-site-key-title">Rotate AUTO-REV(&#39;|')s enrollment key\?</);
    expect(page.text).toContain('<form method="post" action="/console/sites/AUTO-REV/rotate-key"');
    expect(page.text).toContain('href="/console/sites#site-AUTO-REV"');
    // The query can only name a real auto site.
    expect((await c.get('/console/agents?done=agent_revoked&rotate=MANUAL-REV')).text).not.toContain('rotate-site-key');
    expect((await c.get('/console/agents?done=agent_revoked&rotate=NOPE-SITE')).text).not.toContain('rotate-site-key');

    const sites = await c.get('/console/sites');
    const row = /<tr data-site="AUTO-REV"[\s\S]*?<\/tr>/.exec(sites.text)?.[0] ?? '';
    expect(row).toContain('class="row-warn"');
    expect(row).toContain('An agent of this site was revoked');
    // An auditor sees the hint but no button.
    const auditor = new ConsoleClient(t.api.url);
    expect((await auditor.signIn('audrey', PW)).status).toBe(303);
    const seen = await auditor.get('/console/agents?rotate=AUTO-REV');
    expect(seen.text).toContain('id="rotate-site-key"');
    expect(seen.text).not.toContain('action="/console/sites/AUTO-REV/rotate-key"');

    // The button works (the Sites page's own rotate action), and the hint goes away with the old key.
    t.clock.advance(1000);
    await c.get('/console/sites');
    const rotated = await c.post('/console/sites/AUTO-REV/rotate-key');
    expect(rotated.status).toBe(201);
    cek = /id="new-key">\s*(cek_[A-Za-z0-9_-]{43})/.exec(rotated.text)?.[1] ?? '';
    expect(cek).toMatch(/^cek_/);
    const after = await c.get('/console/sites');
    expect(/<tr data-site="AUTO-REV"[\s\S]*?<\/tr>/.exec(after.text)?.[0]).not.toContain('An agent of this site was revoked');
  });
});
