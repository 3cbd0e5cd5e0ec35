/** v1.1 credentials: certificates at enrollment, renewal, key rotation and recovery on the agent routes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCode, createSite, enroll, startTestApi, type TestApi, verify } from '@airlock/api/testing';
import {
  challenge,
  enrollWithCsr,
  internalAgentKeyVerify,
  internalCertVerify,
  newTlsAgent,
  openssl,
  pollAfterInterval,
  renew,
} from './credential-flows.ts';
import { agentSignedMessage, parseSshEd25519PublicKey, signedMessage, sshFingerprint } from '@airlock/crypto';
import { keygenEd25519, keygenSign } from '@airlock/crypto/test-support';

let t: TestApi;
let dir: string;
beforeAll(async () => {
  t = await startTestApi({ env: { AIRLOCK_TRUST_DOMAIN: 'airlock.test' } });
  await createSite(t, 'ACME-PHX');
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-creds-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const auditOf = async (agentId: string) => {
  const res = await t.admin('get', `/api/v1/admin/audit?agent_id=${agentId}&limit=100`);
  expect(res.status).toBe(200);
  return (res.body.items as { event_type: string; details: Record<string, unknown> }[]).map((i) => i.event_type);
};

describe('a certificate in the approved status answer', () => {
  // Issue 18 changed the default names (deliberately, against the v1.1 text): no DNS SAN (the agent's own
  // host name let it pose as any host), the SPIFFE URI as the identity, clientAuth only. The v1.1 profile
  // and the DNS suffix are tested in certificate-names.test.ts.
  it('signs the enrolled key with exactly the default names (SPIFFE URI only), clientAuth only, and the lifetime (read back by openssl)', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'ACME-PHX');
    const tls = answer.credentials.tls;
    expect(answer.credentials.agent_key).toMatch(/^cak_/);
    expect(tls).toEqual({ certificate: expect.stringContaining('-----BEGIN CERTIFICATE-----'), ca_certificates: expect.any(String), expires_at: '2026-11-23T12:00:00.000Z' });

    const text = openssl(['x509', '-noout', '-text'], tls.certificate);
    expect(text).toMatch(new RegExp(`X509v3 Subject Alternative Name: *\\n *URI:spiffe://airlock\\.test/site/ACME-PHX/agent/${answer.agent_id}\\n`));
    expect(text).not.toContain('DNS:');
    // No host name in the subject either: a client that falls back to the CN must not match one.
    expect(text).toContain(`Subject: CN = airlock agent ${answer.agent_id}`);
    expect(text).toMatch(/X509v3 Extended Key Usage: *\n *TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n *Digital Signature\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n *CA:FALSE/);
    expect(text).toContain('Public Key Algorithm: ED25519');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    // Exactly these extensions (plus the key identifiers chain builders use), nothing copied from the request.
    const extensions = [...text.matchAll(/^ {12}(X509v3 [^:]+):/gm)].map((m) => m[1]).sort();
    expect(extensions).toEqual([
      'X509v3 Authority Key Identifier',
      'X509v3 Basic Constraints',
      'X509v3 Extended Key Usage',
      'X509v3 Key Usage',
      'X509v3 Subject Alternative Name',
      'X509v3 Subject Key Identifier',
    ]);
    // Lifetime: AIRLOCK_CERT_TTL (24 h) from issue; valid from a minute before, for clock skew.
    expect(openssl(['x509', '-noout', '-startdate', '-enddate'], tls.certificate)).toBe(
      'notBefore=Nov 22 11:59:00 2026 GMT\nnotAfter=Nov 23 12:00:00 2026 GMT\n',
    );
    // The certificate's key is the agent's own enrolled key.
    expect(openssl(['x509', '-noout', '-pubkey'], tls.certificate)).toBe(openssl(['pkey', '-pubout'], agent.privateKeyPem));
    // It chains to the bundle it came with (checked at the api's clock).
    const caFile = path.join(dir, 'ca.pem');
    const certFile = path.join(dir, 'cert.pem');
    writeFileSync(caFile, tls.ca_certificates);
    writeFileSync(certFile, tls.certificate);
    const at = String(Math.floor(t.clock.now().getTime() / 1000));
    expect(openssl(['verify', '-attime', at, '-purpose', 'sslclient', '-CAfile', caFile, certFile])).toContain(': OK');

    expect(await auditOf(answer.agent_id)).toEqual(expect.arrayContaining(['agent.certificate_issued', 'credentials.issued']));
    const verified = await internalCertVerify(t, tls.certificate);
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({ agent_id: answer.agent_id, site_code: 'ACME-PHX', status: 'active' });
  });

  it('answers tls: null when the agent sent no csr', async () => {
    const { answer } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    expect(answer.credentials).toEqual({ agent_key: expect.stringMatching(/^cak_/), ssh: null, tls: null });
  });
});

describe('the agent routes', () => {
  it('renews the certificate without touching the agent key', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'ACME-PHX');
    t.clock.advance(16 * 3600 * 1000);
    const r = await renew(t, agent, { csr: await agent.csr() });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      agent_id: answer.agent_id,
      site_code: 'ACME-PHX',
      credentials: { agent_key: null, ssh: null, tls: { certificate: expect.any(String), ca_certificates: answer.credentials.tls.ca_certificates, expires_at: expect.any(String) } },
    });
    expect(new Date(r.body.credentials.tls.expires_at).getTime()).toBe(t.clock.now().getTime() + 86400_000);
    expect(r.body.credentials.tls.certificate).not.toBe(answer.credentials.tls.certificate);
    // The old key still works: renewal alone rotates nothing.
    expect((await internalAgentKeyVerify(t, answer.credentials.agent_key)).status).toBe(200);
    expect(await auditOf(answer.agent_id)).toEqual(expect.arrayContaining(['agent.credentials_renewed']));
  });

  it('rotates the agent key: the old cak_ fails internal verify at once, the new one works', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    const r = await renew(t, agent, { rotate_agent_key: true });
    expect(r.status).toBe(200);
    expect(r.body.credentials).toEqual({ agent_key: expect.stringMatching(/^cak_[A-Za-z0-9_-]{43}$/), ssh: null, tls: null });
    const old = await internalAgentKeyVerify(t, answer.credentials.agent_key);
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('invalid_key');
    expect((await internalAgentKeyVerify(t, r.body.credentials.agent_key)).body).toEqual({ agent_id: answer.agent_id, site_code: 'ACME-PHX', status: 'active' });
    expect(await auditOf(answer.agent_id)).toEqual(expect.arrayContaining(['agent.key_rotated', 'agent.credentials_renewed']));
  });

  it('recovers an agent whose status answer was lost: the status route says 410, rotate_agent_key gives a working key', async () => {
    const { agent, answer, pollToken } = await enrollWithCsr(t, 'ACME-PHX');
    // The answer is "lost": the agent never stored it, and the status route will not say it again.
    const again = await pollAfterInterval(t, pollToken);
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('credentials_already_issued');
    const r = await renew(t, agent, { rotate_agent_key: true, csr: await agent.csr() });
    expect(r.status).toBe(200);
    expect(r.body.agent_id).toBe(answer.agent_id);
    expect((await internalAgentKeyVerify(t, r.body.credentials.agent_key)).status).toBe(200);
    expect((await internalCertVerify(t, r.body.credentials.tls.certificate)).status).toBe(200);
  });

  it('answers a challenge once: a replayed answer is agent_denied, like a wrong signature', async () => {
    const { agent } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    const c = await challenge(t, agent.fingerprint);
    const body = { fingerprint: agent.fingerprint, challenge_id: c.body.challenge_id, signature: agent.signAgent(c.body.challenge_id, c.body.challenge) };
    const first = await t.http.post('/api/v1/agent/credentials').send(body);
    expect(first.status).toBe(200);
    const replay = await t.http.post('/api/v1/agent/credentials').send(body);
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({ error: { code: 'agent_denied', message: expect.any(String) } });

    // A bad signature spends the challenge too: the right one afterwards is refused.
    const c2 = await challenge(t, agent.fingerprint);
    const bad = await t.http.post('/api/v1/agent/credentials').send({ ...body, challenge_id: c2.body.challenge_id });
    expect(bad.status).toBe(401);
    const late = await t.http.post('/api/v1/agent/credentials').send({ ...body, challenge_id: c2.body.challenge_id, signature: agent.signAgent(c2.body.challenge_id, c2.body.challenge) });
    expect(late.status).toBe(401);
    expect(late.body).toEqual(replay.body);
    expect(bad.body).toEqual(replay.body);
  });

  it('refuses an expired challenge', async () => {
    const { agent } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    const c = await challenge(t, agent.fingerprint);
    expect(new Date(c.body.expires_at).getTime() - t.clock.now().getTime()).toBe(60_000);
    t.clock.advance(61_000);
    const r = await t.http.post('/api/v1/agent/credentials').send({ fingerprint: agent.fingerprint, challenge_id: c.body.challenge_id, signature: agent.signAgent(c.body.challenge_id, c.body.challenge) });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('agent_denied');
  });

  it('refuses a revoked agent with the same body, and its certificate at the verify route', async () => {
    const { agent, answer } = await enrollWithCsr(t, 'ACME-PHX');
    const stranger = newTlsAgent();
    const unknown = await renew(t, stranger);
    expect(unknown.status).toBe(401);

    expect((await t.admin('post', `/api/v1/admin/agents/${answer.agent_id}/revoke`).send({ reason: 'stolen' })).status).toBe(200);
    const r = await renew(t, agent, { rotate_agent_key: true });
    expect(r.status).toBe(401);
    expect(r.body).toEqual(unknown.body);
    const cert = await internalCertVerify(t, answer.credentials.tls.certificate);
    expect(cert.status).toBe(401);
    expect(cert.body).toEqual({ error: { code: 'invalid_certificate', message: expect.any(String) } });

    const rows = await t.admin('get', `/api/v1/admin/audit?agent_id=${answer.agent_id}&event_type=agent.denied`);
    expect(rows.body.items[0].details).toMatchObject({ reason: 'agent_revoked', code: 'agent_denied' });
  });

  it('gives known and unknown fingerprints a challenge of the same shape', async () => {
    const { agent } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    const known = await challenge(t, agent.fingerprint);
    const unknown = await challenge(t, newTlsAgent().fingerprint);
    for (const r of [known, unknown]) {
      expect(r.status).toBe(201);
      expect(Object.keys(r.body).sort()).toEqual(['challenge', 'challenge_id', 'expires_at']);
      expect(r.body.challenge).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(r.body.expires_at).toBe(new Date(t.clock.now().getTime() + 60_000).toISOString());
      expect(Object.keys(r.headers).sort()).toEqual(Object.keys(known.headers).sort());
    }
    const malformed = await t.http.post('/api/v1/agent/challenge').send({ fingerprint: 'SHA256:nope' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.fields).toEqual({ fingerprint: expect.any(String) });
    const extra = await t.http.post('/api/v1/agent/challenge').send({ fingerprint: agent.fingerprint, agent_id: 'x' });
    expect(extra.status).toBe(400);
  });

  it('accepts an ssh-keygen SSHSIG in namespace airlock-agent as the proof, and refuses one made for enrollment', async () => {
    const key = keygenEd25519(dir, `sshsig-${Date.now()}`, 'vma-01');
    const { code } = await createCode(t, 'ACME-PHX', { auto_approve: true });
    const e = await enroll(t, { site_code: 'ACME-PHX', pairing_code: code, public_key: key.publicLine, hostname: 'vma-01' });
    const v = await verify(t, e.body.enrollment_id, keygenSign(key.privatePath, signedMessage(e.body.enrollment_id, e.body.challenge), 'airlock-enroll'));
    expect(v.body.status).toBe('approved');
    const fingerprint = sshFingerprint(parseSshEd25519PublicKey(key.publicLine).blob);
    const answer = async (namespace: string) => {
      const c = await challenge(t, fingerprint);
      const signature = keygenSign(key.privatePath, agentSignedMessage(c.body.challenge_id, c.body.challenge), namespace);
      return t.http.post('/api/v1/agent/credentials').send({ fingerprint, challenge_id: c.body.challenge_id, signature, rotate_agent_key: true });
    };
    expect((await answer('airlock-enroll')).status).toBe(401);
    const ok = await answer('airlock-agent');
    expect(ok.status).toBe(200);
    expect(ok.body.credentials.agent_key).toMatch(/^cak_/);
  });

  it('refuses a challenge issued for another key', async () => {
    const { agent } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    const other = newTlsAgent();
    const c = await challenge(t, other.fingerprint);
    const r = await t.http.post('/api/v1/agent/credentials').send({ fingerprint: agent.fingerprint, challenge_id: c.body.challenge_id, signature: agent.signAgent(c.body.challenge_id, c.body.challenge) });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('agent_denied');
  });
});

describe('abuse of the agent routes', () => {
  it('refuses malformed bodies with the envelope, counted, and never logs a minted key', async () => {
    const { agent } = await enrollWithCsr(t, 'ACME-PHX', { csr: null });
    const c = await challenge(t, agent.fingerprint);
    const good = { fingerprint: agent.fingerprint, challenge_id: c.body.challenge_id, signature: agent.signAgent(c.body.challenge_id, c.body.challenge) };
    const bad: [Record<string, unknown>, string][] = [
      [{ ...good, agent_id: 'x' }, 'agent_id'],
      [{ ...good, challenge_id: 'not-a-uuid' }, 'challenge_id'],
      [{ ...good, signature: 'A'.repeat(5000) }, 'signature'],
      [{ ...good, rotate_agent_key: 'yes' }, 'rotate_agent_key'],
      [{ ...good, fingerprint: `md5:${'a'.repeat(32)}` }, 'fingerprint'],
      [{ ...good, csr: 'bad\u0000csr' }, 'csr'],
    ];
    for (const [body, field] of bad) {
      const r = await t.http.post('/api/v1/agent/credentials').send(body);
      expect(r.status, field).toBe(400);
      expect(Object.keys(r.body.error.fields), field).toEqual([field]);
    }
    const text = await t.http.post('/api/v1/agent/credentials').set('content-type', 'text/plain').send(JSON.stringify(good));
    expect(text.status).toBe(415);
    // None of the refusals above spent the challenge: the proof still works, once.
    const ok = await t.http.post('/api/v1/agent/credentials').send({ ...good, rotate_agent_key: true });
    expect(ok.status).toBe(200);
    // Malformed bodies concern no real agent: counted per (IP, kind, minute), not a row each (#8.1).
    const invalid = await t.admin('get', '/api/v1/admin/audit/refusals?kind=agent.invalid&limit=100');
    const counted = invalid.body.items.reduce((n: number, i: { count: number }) => n + i.count, 0);
    expect(counted).toBeGreaterThanOrEqual(bad.length);
    expect(t.logs.join('\n')).not.toContain(ok.body.credentials.agent_key);
  });
});

describe('the internal certificate routes', () => {
  it('gives the CA bundle to every operator role, and nobody else', async () => {
    for (const token of [t.adminToken, t.auditorToken, t.serviceToken]) {
      const r = await t.http.get('/api/v1/internal/ca').set('authorization', `Bearer ${token}`);
      expect(r.status).toBe(200);
      expect(r.body.ca_certificates).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
      expect(openssl(['x509', '-noout', '-text'], r.body.ca_certificates)).toMatch(/CA:TRUE, pathlen:0/);
    }
    expect((await t.http.get('/api/v1/internal/ca')).status).toBe(401);
  });

  it('lets only admin and service verify certificates, and refuses garbage, foreign and expired certificates', async () => {
    const { answer } = await enrollWithCsr(t, 'ACME-PHX');
    const cert = answer.credentials.tls.certificate as string;
    expect((await internalCertVerify(t, cert, t.auditorToken)).status).toBe(403);
    expect((await internalCertVerify(t, cert, t.adminToken)).status).toBe(200);

    // Self-signed by openssl with the agent's own names: not ours.
    const keyFile = path.join(dir, 'foreign.key');
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', keyFile]);
    const foreign = openssl(['req', '-new', '-x509', '-key', keyFile, '-subj', '/CN=vma-01', '-days', '1']);
    for (const certificate of [foreign, 'garbage', cert.replace(/A/g, 'B'), cert + cert]) {
      const r = await internalCertVerify(t, certificate);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('invalid_certificate');
    }
    t.clock.advance(86400_000 + 1000);
    const expired = await internalCertVerify(t, cert);
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('invalid_certificate');
  });
});
