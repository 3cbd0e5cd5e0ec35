/** Certificate requests an attacker (or a broken agent) might send: each is a 400 on `csr`, audited, and signs nothing. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCode, createSite, enroll, startTestApi, type TestApi } from '@airlock/api/testing';
import { enrollWithCsr, newTlsAgent, openssl, renew, type TlsAgent } from './credential-flows.ts';

let t: TestApi;
let dir: string;
let victim: TlsAgent;
let victimKeyFile: string;
beforeAll(async () => {
  t = await startTestApi();
  await createSite(t, 'ACME-PHX');
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-hostile-csr-'));
  victim = newTlsAgent();
  victimKeyFile = path.join(dir, 'agent.pem');
  writeFileSync(victimKeyFile, victim.privateKeyPem, { mode: 0o600 });
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `openssl req -new` with the agent's own Ed25519 key and extra arguments. */
const opensslCsr = (...args: string[]) => openssl(['req', '-new', '-key', victimKeyFile, '-subj', '/CN=vma-01', ...args]);

const flipSignatureByte = (pem: string): string => {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
};

const hostile = async (): Promise<[string, string][]> => {
  const rsaKey = path.join(dir, 'rsa.pem');
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaKey]);
  return [
    ['another Ed25519 key', await newTlsAgent().csr()],
    ['an RSA key', openssl(['req', '-new', '-key', rsaKey, '-subj', '/CN=vma-01'])],
    ['extra SANs', opensslCsr('-addext', 'subjectAltName=DNS:vma-01,DNS:evil.example')],
    ['an IP SAN', opensslCsr('-addext', 'subjectAltName=IP:10.0.0.1')],
    ['a URI SAN of another agent', opensslCsr('-addext', 'subjectAltName=URI:spiffe://airlock/site/X/agent/y')],
    ['CA:true', opensslCsr('-addext', 'basicConstraints=critical,CA:TRUE')],
    ['a key usage of its own', opensslCsr('-addext', 'keyUsage=keyCertSign')],
    ['a challengePassword attribute', openssl(['req', '-new', '-key', victimKeyFile, '-config', challengePasswordConfig()])],
    ['a bad signature', flipSignatureByte(await victim.csr())],
    ['garbage PEM', '-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n'],
    ['a certificate instead of a request', openssl(['req', '-new', '-x509', '-key', victimKeyFile, '-subj', '/CN=vma-01', '-days', '1'])],
    ['not PEM at all', 'hello'],
    ['junk within the field limit', 'A'.repeat(4000)],
  ];
};

const challengePasswordConfig = () => {
  const file = path.join(dir, 'req.cnf');
  writeFileSync(file, '[req]\ndistinguished_name=dn\nattributes=attrs\nprompt=no\n[dn]\nCN=vma-01\n[attrs]\nchallengePassword=hunter22\n');
  return file;
};

describe('hostile certificate requests', () => {
  it('accepts what openssl makes from the agent key with nothing or just the host name requested', async () => {
    for (const csr of [opensslCsr(), opensslCsr('-addext', 'subjectAltName=DNS:vma-01')]) {
      const { answer } = await enrollWithCsr(t, 'ACME-PHX', { agent: victim, csr });
      expect(answer.credentials.tls.certificate).toContain('BEGIN CERTIFICATE');
    }
  });

  it('refuses each at enroll with 400 invalid_request on csr, counted, and creates no enrollment', async () => {
    for (const [what, csr] of await hostile()) {
      const { code } = await createCode(t, 'ACME-PHX');
      const r = await enroll(t, { site_code: 'ACME-PHX', pairing_code: code, public_key: victim.publicKey, hostname: 'vma-01', csr });
      expect(r.status, what).toBe(400);
      expect(r.body.error.code, what).toBe('invalid_request');
      expect(Object.keys(r.body.error.fields), what).toEqual(['csr']);
      // The code is still usable: a refused request consumed nothing.
      const ok = await enroll(t, { site_code: 'ACME-PHX', pairing_code: code, public_key: victim.publicKey, hostname: 'vma-01' });
      expect(ok.status, what).toBe(201);
    }
    // A malformed body is a counted refusal (#8.1); nothing of the request is kept.
    const counted = await t.admin('get', '/api/v1/admin/audit/refusals?kind=enroll.invalid&limit=100');
    const total = counted.body.items.reduce((n: number, i: { count: number }) => n + i.count, 0);
    expect(total).toBeGreaterThanOrEqual((await hostile()).length);
    const audit = await t.admin('get', '/api/v1/admin/audit?limit=100');
    expect(JSON.stringify([audit.body, counted.body])).not.toContain('BEGIN CERTIFICATE REQUEST');
  });

  it('refuses each on the credentials route too, after the proof, and issues nothing', async () => {
    // The victim's key was enrolled above too; the route answers for its newest agent, this one.
    t.clock.advance(1000);
    const { answer } = await enrollWithCsr(t, 'ACME-PHX', { agent: victim, csr: null });
    for (const [what, csr] of await hostile()) {
      const r = await renew(t, victim, { csr, rotate_agent_key: true });
      expect(r.status, what).toBe(400);
      expect(Object.keys(r.body.error.fields), what).toEqual(['csr']);
    }
    // No key was rotated by a refused request.
    const verify = await t.http
      .post('/api/v1/internal/agent-keys/verify')
      .set('authorization', `Bearer ${t.serviceToken}`)
      .send({ agent_key: answer.credentials.agent_key });
    expect(verify.status).toBe(200);
    const audit = await t.admin('get', `/api/v1/admin/audit?agent_id=${answer.agent_id}&event_type=agent.csr_invalid&limit=100`);
    expect(audit.body.items.length).toBe((await hostile()).length);
  });

  it('cuts 16 KiB of junk at the body limit, and refuses a csr over 4096 characters', async () => {
    const { code } = await createCode(t, 'ACME-PHX');
    const base = { site_code: 'ACME-PHX', pairing_code: code, public_key: victim.publicKey, hostname: 'vma-01' };
    const huge = await enroll(t, { ...base, csr: 'A'.repeat(16 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    const long = await enroll(t, { ...base, csr: 'A'.repeat(4097) });
    expect(long.status).toBe(400);
    expect(long.body.error.fields).toEqual({ csr: expect.any(String) });
    const notText = await enroll(t, { ...base, csr: 42 });
    expect(notText.status).toBe(400);
  });
});
