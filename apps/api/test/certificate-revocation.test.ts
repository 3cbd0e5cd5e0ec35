/**
 * Issue 18, finding 3: a stolen key's certificate must not verify again. Each
 * test is the attack's sequence against the real api on real Postgres: the
 * agent's key is stolen, the operator revokes it, the machine comes back
 * (same machine_uid, new key; or a signed re-key), and the stolen key's
 * certificate is presented to the verify route.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCode, createSite, enroll, startTestApi, type TestApi } from '@airlock/api/testing';
import { internalCertVerify, newTlsAgent, pollAfterInterval, type TlsAgent } from './credential-flows.ts';

let t: TestApi;
let cek: string;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'CERT-MAN', 'manual');
  await createSite(t, 'CERT-AUTO', 'auto');
  const r = await t.admin('post', '/api/v1/admin/sites/CERT-AUTO/enrollment-key').send({});
  cek = r.body.key;
});
afterAll(async () => t.close());

let n = 0;
const uid = () => `cert-uid-${Date.now()}-${n++}`;

/** Enroll (pairing code or site key) with a CSR, answer the challenge (with a re-key proof when given). */
const enrollVerify = async (
  agent: TlsAgent,
  machineUid: string,
  opts: { site?: string; rekeyBy?: TlsAgent } = {},
): Promise<{ enrollmentId: string; status: string; pollToken: string }> => {
  const site = opts.site ?? 'CERT-MAN';
  const credential = site === 'CERT-AUTO' ? { enrollment_key: cek } : { pairing_code: (await createCode(t, site, { auto_approve: true })).code };
  const e = await enroll(t, { site_code: site, ...credential, public_key: agent.publicKey, hostname: 'vma-01', machine_uid: machineUid, csr: await agent.csr() });
  expect(e.status).toBe(201);
  const id = e.body.enrollment_id as string;
  const v = await t.http.post('/api/v1/enroll/verify').send({
    enrollment_id: id,
    signature: agent.signEnrollment(id, e.body.challenge),
    ...(opts.rekeyBy ? { rekey_signature: opts.rekeyBy.signRekey(id, e.body.challenge, agent.fingerprint) } : {}),
  });
  expect(v.status).toBe(200);
  return { enrollmentId: id, status: v.body.status, pollToken: v.body.poll_token };
};

/** Collects the credentials of an approved enrollment: the agent id and its certificate. */
const collect = async (pollToken: string): Promise<{ agentId: string; certificate: string }> => {
  const s = await pollAfterInterval(t, pollToken);
  expect(s.status).toBe(200);
  return { agentId: s.body.agent_id, certificate: s.body.credentials.tls.certificate };
};

const revoke = async (agentId: string) =>
  expect((await t.admin('post', `/api/v1/admin/agents/${agentId}/revoke`).send({ reason: 'key stolen' })).status).toBe(200);

const deniedReason = async (agentId: string) => {
  const rows = await t.admin('get', `/api/v1/admin/audit?agent_id=${agentId}&event_type=certificate.denied`);
  return rows.body.items[0]?.details.reason as string | undefined;
};

const expectRefused = async (certificate: string) => {
  const r = await internalCertVerify(t, certificate);
  expect(r.status).toBe(401);
  expect(r.body).toEqual({ error: { code: 'invalid_certificate', message: expect.any(String) } });
};

describe('a stolen key\'s certificate after the machine comes back', () => {
  it('revoke, re-enroll the same machine_uid with a new key, approve: the old certificate is 401 invalid_certificate', async () => {
    const machineUid = uid();
    const stolen = newTlsAgent();
    const first = await enrollVerify(stolen, machineUid);
    expect(first.status).toBe('approved');
    const { agentId, certificate: stolenCert } = await collect(first.pollToken);
    expect((await internalCertVerify(t, stolenCert)).status).toBe(200);

    await revoke(agentId);
    const fresh = newTlsAgent();
    const back = await enrollVerify(fresh, machineUid);
    // A revoked machine waits for an operator, whatever the code's auto_approve.
    expect(back.status).toBe('awaiting_approval');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${back.enrollmentId}/approve`).send({ notes: 're-imaged' })).status).toBe(200);
    const renewed = await collect(back.pollToken);
    expect(renewed.agentId).toBe(agentId);

    await expectRefused(stolenCert);
    expect(await deniedReason(agentId)).toBe('certificate_revoked');
    // The machine's new certificate, for its new key, is the one that verifies.
    expect((await internalCertVerify(t, renewed.certificate)).body).toEqual({ agent_id: agentId, site_code: 'CERT-MAN', status: 'active' });
  });

  it('never revives a revoked certificate, even when the operator lets the same key back in', async () => {
    const machineUid = uid();
    const agent = newTlsAgent();
    const first = await enrollVerify(agent, machineUid);
    const { agentId, certificate } = await collect(first.pollToken);
    await revoke(agentId);
    const back = await enrollVerify(agent, machineUid);
    expect(back.status).toBe('awaiting_approval');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${back.enrollmentId}/approve`).send({})).status).toBe(200);
    const again = await collect(back.pollToken);
    expect(again.agentId).toBe(agentId);
    await expectRefused(certificate);
    expect((await internalCertVerify(t, again.certificate)).status).toBe(200);
  });

  it('a signed re-key under auto: the old key\'s certificate is refused as soon as the re-key is approved', async () => {
    const machineUid = uid();
    const old = newTlsAgent();
    const first = await enrollVerify(old, machineUid, { site: 'CERT-AUTO' });
    expect(first.status).toBe('approved');
    const { agentId, certificate: oldCert } = await collect(first.pollToken);
    expect((await internalCertVerify(t, oldCert)).status).toBe(200);

    const next = newTlsAgent();
    const rekey = await enrollVerify(next, machineUid, { site: 'CERT-AUTO', rekeyBy: old });
    expect(rekey.status).toBe('approved');
    // Refused before the new key has even collected anything: the approval itself revoked it.
    await expectRefused(oldCert);
    expect(await deniedReason(agentId)).toBe('certificate_revoked');
    const renewed = await collect(rekey.pollToken);
    expect((await internalCertVerify(t, renewed.certificate)).status).toBe(200);
    const audit = await t.admin('get', `/api/v1/admin/audit?agent_id=${agentId}&event_type=agent.certificates_revoked`);
    expect(audit.body.items[0].details).toMatchObject({ reason: 'key_replaced', revoked_certificates: 1 });
  });

  it('an operator-approved key change on an active agent revokes the old key\'s certificates in the same transaction', async () => {
    const machineUid = uid();
    const old = newTlsAgent();
    const first = await enrollVerify(old, machineUid, { site: 'CERT-AUTO' });
    const { agentId, certificate: oldCert } = await collect(first.pollToken);
    const reimaged = newTlsAgent();
    const held = await enrollVerify(reimaged, machineUid, { site: 'CERT-AUTO' });
    expect(held.status).toBe('pending_confirmation');
    // Held: the old key is still the agent's, and so still its certificate.
    expect((await internalCertVerify(t, oldCert)).status).toBe(200);
    expect((await t.admin('post', `/api/v1/admin/enrollments/${held.enrollmentId}/approve`).send({})).status).toBe(200);
    await expectRefused(oldCert);
    const rows = await t.api.deps.db.execute<{ revoked_at: Date; decided_at: Date }>(
      // The certificate's revocation and the approval carry one transaction's clock.
      sql`select c.revoked_at, e.decided_at from issued_certificates c, enrollments e
        where c.agent_id = ${agentId} and e.id = ${held.enrollmentId} and c.revoke_reason = 'key_replaced'`,
    );
    expect(rows).toHaveLength(1);
    expect(new Date(rows[0]?.revoked_at ?? 0).getTime()).toBe(new Date(rows[0]?.decided_at ?? 1).getTime());
    const renewed = await collect(held.pollToken);
    expect((await internalCertVerify(t, renewed.certificate)).status).toBe(200);
  });

  it('records the key each certificate was issued for, and refuses a certificate whose key is no longer the agent\'s', async () => {
    const machineUid = uid();
    const agent = newTlsAgent();
    const first = await enrollVerify(agent, machineUid);
    const { agentId, certificate } = await collect(first.pollToken);
    const rows = await t.api.deps.db.execute<{ key_fingerprint: string }>(
      sql`select key_fingerprint from issued_certificates where agent_id = ${agentId}`,
    );
    expect(rows.map((r) => r.key_fingerprint)).toEqual([agent.fingerprint]);
    // The agent row's key changes behind the api's back (as a migration or a bug could): the key check alone refuses.
    await t.api.deps.db.execute(sql`update agents set fingerprint = 'SHA256:other' where id = ${agentId}`);
    await expectRefused(certificate);
    expect(await deniedReason(agentId)).toBe('key_replaced');
  });
});
