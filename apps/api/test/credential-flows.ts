/** The agent's side of v1.1 credentials, for tests: a real Ed25519 key, real CSRs, real signatures. */
import { execFileSync } from 'node:child_process';
import { buildAgentCsr, ed25519PrivateKeyPem } from '@airlock/crypto';
import { newAgentKey } from '@airlock/testing';
import { expect } from 'vitest';
import { createCode, enroll, status, type TestApi, verify } from '@airlock/api/testing';
export { pollAfterInterval } from '@airlock/api/testing';

export interface TlsAgent {
  publicKey: string;
  fingerprint: string;
  secretKey: Uint8Array;
  /** PKCS#8 PEM of the agent's Ed25519 key, as a TLS client loads it. */
  privateKeyPem: string;
  signEnrollment(enrollmentId: string, challenge: string): string;
  signAgent(challengeId: string, challenge: string): string;
  /** This (current) key's re-key proof for a successor key's enrollment (#8.2). */
  signRekey(enrollmentId: string, challenge: string, newFingerprint: string): string;
  csr(hostname?: string): Promise<string>;
}

export const newTlsAgent = (): TlsAgent => {
  const key = newAgentKey();
  return {
    ...key,
    privateKeyPem: ed25519PrivateKeyPem(key.secretKey),
    signEnrollment: key.sign,
    csr: (hostname = 'vma-01') => buildAgentCsr(key.secretKey, hostname),
  };
};

/** Enrolls with an auto-approving pairing code (and a CSR unless told not to) and collects the status answer. */
export const enrollWithCsr = async (
  t: TestApi,
  site: string,
  opts: { agent?: TlsAgent; csr?: string | null; hostname?: string } = {},
) => {
  const agent = opts.agent ?? newTlsAgent();
  const hostname = opts.hostname ?? 'vma-01';
  const csr = opts.csr === undefined ? await agent.csr(hostname) : opts.csr;
  const { code } = await createCode(t, site, { auto_approve: true });
  const e = await enroll(t, {
    site_code: site,
    pairing_code: code,
    public_key: agent.publicKey,
    hostname,
    ...(csr === null ? {} : { csr }),
  });
  expect(e.status).toBe(201);
  const v = await verify(t, e.body.enrollment_id, agent.signEnrollment(e.body.enrollment_id, e.body.challenge));
  expect(v.status).toBe(200);
  expect(v.body.status).toBe('approved');
  const s = await status(t, v.body.poll_token);
  expect(s.status).toBe(200);
  return { agent, answer: s.body, enrollmentId: e.body.enrollment_id as string, pollToken: v.body.poll_token as string };
};

export const challenge = (t: TestApi, fingerprint: string) => t.http.post('/api/v1/agent/challenge').send({ fingerprint });

/** One full renewal: challenge, sign, credentials. */
export const renew = async (t: TestApi, agent: TlsAgent, extra: Record<string, unknown> = {}) => {
  const c = await challenge(t, agent.fingerprint);
  expect(c.status).toBe(201);
  return t.http.post('/api/v1/agent/credentials').send({
    fingerprint: agent.fingerprint,
    challenge_id: c.body.challenge_id,
    signature: agent.signAgent(c.body.challenge_id, c.body.challenge),
    ...extra,
  });
};

export const internalAgentKeyVerify = (t: TestApi, agentKey: string) =>
  t.http.post('/api/v1/internal/agent-keys/verify').set('authorization', `Bearer ${t.serviceToken}`).send({ agent_key: agentKey });

export const internalCertVerify = (t: TestApi, certificate: string, token = t.serviceToken) =>
  t.http.post('/api/v1/internal/certificates/verify').set('authorization', `Bearer ${token}`).send({ certificate });

/** The real openssl, reading PEM from standard input. */
export const openssl = (args: string[], input?: string): string =>
  execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
