/**
 * Issue 22, "clones may coexist": an operator confirming an identity
 * collision chooses `replace` (v1: the colliding agent gets the new key) or
 * `separate` (the machine becomes a new agent beside it, the next instance of
 * its machine_uid). Real api, real Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey, type TestAgentKey } from '@airlock/testing';
import { createSite, enroll, startTestApi, status, type TestApi } from '@airlock/api/testing';
import { runCli } from '@airlock/cli/run';

let t: TestApi;
let cek: string;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'CLONES', 'auto');
  const r = await t.admin('post', '/api/v1/admin/sites/CLONES/enrollment-key').send({});
  expect(r.status).toBe(201);
  cek = r.body.key;
});
afterAll(async () => t.close());

let n = 0;
const uid = () => `template-uuid-${Date.now()}-${n++}`;

/** Site-key enroll + verify of `key` under `machineUid`; returns the verify answer. */
const enrollVerify = async (machineUid: string, key: TestAgentKey, hostname = 'vm-clone') => {
  const e = await enroll(t, { site_code: 'CLONES', enrollment_key: cek, public_key: key.publicKey, hostname, machine_uid: machineUid });
  expect(e.status).toBe(201);
  const v = await t.http.post('/api/v1/enroll/verify').send({ enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) });
  expect(v.status).toBe(200);
  return { id: e.body.enrollment_id as string, status: v.body.status as string, pollToken: v.body.poll_token as string };
};

const collect = async (pollToken: string) => {
  t.clock.advance(10_000);
  const res = await status(t, pollToken);
  expect(res.status).toBe(200);
  return { agentId: res.body.agent_id as string, cak: res.body.credentials.agent_key as string };
};

const keyVerifies = async (cak: string) =>
  (await t.http.post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${t.serviceToken}`).send({ agent_key: cak })).status;

const agentsOf = async (machineUid: string) =>
  ((await t.admin('get', '/api/v1/admin/agents')).body.items as { id: string; machine_uid: string; fingerprint: string }[]).filter((a) => a.machine_uid === machineUid);

const approve = (id: string, body: object) => t.admin('post', `/api/v1/admin/enrollments/${id}/approve`).send(body);

/** The original VM, enrolled and collected, and a clone of it held as an identity collision. */
const originalAndClone = async () => {
  const machineUid = uid();
  const original = newAgentKey();
  const first = await enrollVerify(machineUid, original);
  expect(first.status).toBe('approved');
  const held = await collect(first.pollToken);
  const cloneKey = newAgentKey();
  const clone = await enrollVerify(machineUid, cloneKey);
  expect(clone.status).toBe('pending_confirmation');
  return { machineUid, original, held, cloneKey, clone };
};

describe('approve with identity: replace | separate', () => {
  it('separate: the clone becomes a second agent; the original keeps its id, key and cak_', async () => {
    const { machineUid, original, held, cloneKey, clone } = await originalAndClone();
    expect((await approve(clone.id, { identity: 'separate' })).status).toBe(200);
    const cloneAgent = await collect(clone.pollToken);
    expect(cloneAgent.agentId).not.toBe(held.agentId);
    expect(await keyVerifies(held.cak)).toBe(200);
    expect(await keyVerifies(cloneAgent.cak)).toBe(200);
    const agents = await agentsOf(machineUid);
    expect(agents.map((a) => [a.id, a.fingerprint]).sort()).toEqual([[held.agentId, original.fingerprint], [cloneAgent.agentId, cloneKey.fingerprint]].sort());
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=enrollment.approved&agent_id=${cloneAgent.agentId}`);
    expect(audit.body.items[0].details).toMatchObject({ identity: 'separate', separate_from_agent_id: held.agentId, machine_instance: 1, reused_agent: false });

    // Each clone is then known by its own key: the clone enrolling again with it is its own agent, approved by the policy.
    const again = await enrollVerify(machineUid, cloneKey);
    expect(again.status).toBe('approved');
    expect((await collect(again.pollToken)).agentId).toBe(cloneAgent.agentId);
    expect(await keyVerifies(held.cak)).toBe(200);
  });

  it('a separated clone rotates its own key with its re-key proof, even when its twin was seen last', async () => {
    const { machineUid, original, held, cloneKey, clone } = await originalAndClone();
    expect((await approve(clone.id, { identity: 'separate' })).status).toBe(200);
    const cloneAgent = await collect(clone.pollToken);
    t.clock.advance(60_000);
    expect(await keyVerifies(held.cak)).toBe(200); // the original is now the agent of the uid seen last

    const next = newAgentKey();
    const e = await enroll(t, { site_code: 'CLONES', enrollment_key: cek, public_key: next.publicKey, hostname: 'vm-clone', machine_uid: machineUid });
    const v = await t.http.post('/api/v1/enroll/verify').send({
      enrollment_id: e.body.enrollment_id,
      signature: next.sign(e.body.enrollment_id, e.body.challenge),
      rekey_signature: cloneKey.signRekey(e.body.enrollment_id, e.body.challenge, next.fingerprint),
    });
    expect(v.body.status).toBe('approved');
    const rotated = await collect(v.body.poll_token);
    expect(rotated.agentId).toBe(cloneAgent.agentId);
    expect(await keyVerifies(cloneAgent.cak)).toBe(401);
    expect(await keyVerifies(held.cak)).toBe(200);
    expect((await agentsOf(machineUid)).map((a) => a.fingerprint).sort()).toEqual([original.fingerprint, next.fingerprint].sort());
  });

  it('replace (the default, as before): the colliding agent takes the new key and its old cak_ stops', async () => {
    const { machineUid, held, cloneKey, clone } = await originalAndClone();
    expect((await approve(clone.id, {})).status).toBe(200);
    const taken = await collect(clone.pollToken);
    expect(taken.agentId).toBe(held.agentId);
    expect(await keyVerifies(held.cak)).toBe(401);
    expect(await agentsOf(machineUid)).toMatchObject([{ id: held.agentId, fingerprint: cloneKey.fingerprint }]);
  });

  it('refuses separate where there is no collision, and an unknown choice', async () => {
    const lone = await enrollVerify(uid(), newAgentKey());
    expect(lone.status).toBe('approved');
    await createSite(t, 'CLONES-MANUAL', 'manual');
    const r = await t.admin('post', '/api/v1/admin/sites/CLONES-MANUAL/enrollment-key').send({});
    const key = newAgentKey();
    const e = await enroll(t, { site_code: 'CLONES-MANUAL', enrollment_key: r.body.key, public_key: key.publicKey, hostname: 'vm-1', machine_uid: uid() });
    const v = await t.http.post('/api/v1/enroll/verify').send({ enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) });
    expect(v.body.status).toBe('awaiting_approval');
    const refused = await approve(e.body.enrollment_id, { identity: 'separate' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('invalid_state');
    const bad = await approve(e.body.enrollment_id, { identity: 'both' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toHaveProperty('identity');
    // Neither refusal decided anything: a plain approval still works.
    expect((await approve(e.body.enrollment_id, {})).status).toBe(200);
  });

  it('the CLI: pending suggests --identity separate, approve --identity separate keeps both agents, a bad choice is a usage error', async () => {
    const { machineUid, held, clone } = await originalAndClone();
    const cli = async (args: string[]) => {
      let out = '';
      const code = await runCli(args, { io: { out: (s) => (out += s), err: (s) => (out += s) }, env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken } });
      return { code, out };
    };
    const pending = await cli(['pending']);
    expect(pending.out).toContain(`${clone.id} replaces agent ${held.agentId}`);
    expect(pending.out).toContain('approve --identity separate');
    const bad = await cli(['approve', clone.id, '--identity', 'both']);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--identity must be one of: replace, separate/);
    const ok = await cli(['approve', clone.id, '--identity', 'separate']);
    expect(ok, ok.out).toMatchObject({ code: 0, out: `approved enrollment ${clone.id} as a separate agent\n` });
    expect(await agentsOf(machineUid)).toHaveLength(2);
    expect(await keyVerifies(held.cak)).toBe(200);
  });

  it('race: replace and separate on one enrollment at once, exactly one wins', async () => {
    const { machineUid, clone } = await originalAndClone();
    const answers = await Promise.all([approve(clone.id, { identity: 'replace' }), approve(clone.id, { identity: 'separate' })]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const won = answers.find((a) => a.status === 200) === answers[0] ? 'replace' : 'separate';
    expect(await agentsOf(machineUid)).toHaveLength(won === 'replace' ? 1 : 2);
  });

  it('race: two clones separated at once get distinct instances', async () => {
    const { machineUid, clone } = await originalAndClone();
    const third = await enrollVerify(machineUid, newAgentKey());
    expect(third.status).toBe('pending_confirmation');
    const answers = await Promise.all([approve(clone.id, { identity: 'separate' }), approve(third.id, { identity: 'separate' })]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(await agentsOf(machineUid)).toHaveLength(3);
  });
});
