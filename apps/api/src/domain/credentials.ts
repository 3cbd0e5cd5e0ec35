/**
 * What an agent is handed, built in one place for both answers that carry it:
 * the approved status answer (enrollment) and `POST /api/v1/agent/credentials`
 * (renewal, key rotation, recovery). `ssh` comes from the tunnel endpoint's configuration (domain/tunnel.ts).
 */
import { issueAgentCertificate, mintSecret, parseSshEd25519PublicKey, secretDigest, secretDisplayStart, sshFingerprint } from '@airlock/crypto';
import type { AgentCredentials, TlsCredentials } from '@airlock/schema';
import type { Executor } from '../db/client.ts';
import { insertAgentKey, revokeAgentKeys } from '../store/agents.ts';
import { insertIssuedCertificate } from '../store/certificates.ts';
import { recordAudit } from './audit.ts';
import { certificateNames } from './certificate-names.ts';
import { sshCredentials } from './tunnel.ts';
import type { Client, Deps } from './deps.ts';

export interface CredentialSubject {
  agentId: string;
  siteCode: string;
  hostname: string;
  /** The agent's enrolled key, OpenSSH one-line form. */
  publicKey: string;
  enrollmentId: string | null;
}

/**
 * Signs a certificate for the agent's enrolled key and records it, with the
 * key it was issued for (the verify route compares it with the agent's
 * current key). The CSR has already been checked against that key; the
 * certificate takes nothing from it but the key, so what it says is decided
 * here alone (names: certificate-names.ts).
 */
const issueTls = async (deps: Deps, tx: Executor, s: CredentialSubject, client: Client | null, actor: string): Promise<TlsCredentials> => {
  const now = deps.clock.now();
  const ca = deps.ca.signer;
  const blob = parseSshEd25519PublicKey(s.publicKey).blob;
  const names = certificateNames(deps.config.certNames, deps.config.trustDomain, s);
  const issued = await issueAgentCertificate(ca, { ...names, publicKeyBlob: blob, now, ttlSeconds: deps.config.certTtlSeconds });
  const keyFingerprint = sshFingerprint(blob);
  await insertIssuedCertificate(tx, {
    serial: issued.serial,
    agentId: s.agentId,
    siteCode: s.siteCode,
    enrollmentId: s.enrollmentId,
    fingerprint: issued.fingerprint,
    issuerFingerprint: ca.fingerprint,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    createdAt: now,
    keyFingerprint,
  });
  await recordAudit(tx, deps, client, {
    eventType: 'agent.certificate_issued',
    actor,
    siteCode: s.siteCode,
    enrollmentId: s.enrollmentId,
    agentId: s.agentId,
    details: {
      serial: issued.serial,
      not_after: issued.notAfter.toISOString(),
      issuer: ca.fingerprint,
      key_fingerprint: keyFingerprint,
      dns_names: names.dnsNames,
      server_auth: names.serverAuth,
    },
  });
  return { certificate: issued.pem, ca_certificates: deps.ca.pem, expires_at: issued.notAfter.toISOString() };
};

/**
 * Builds the credentials inside the caller's transaction: a new `cak_` when
 * `mintAgentKey` (every earlier key of the agent is revoked in the same
 * transaction, so exactly one is live), a certificate when `withCertificate`.
 * The caller holds the agent's (or enrollment's) row lock.
 */
export const issueCredentials = async (
  deps: Deps,
  tx: Executor,
  s: CredentialSubject,
  opts: { mintAgentKey: boolean; withCertificate: boolean; client: Client | null; actor: string },
): Promise<{ credentials: AgentCredentials; revokedKeys: number }> => {
  let agentKey: string | null = null;
  let revokedKeys = 0;
  if (opts.mintAgentKey) {
    const now = deps.clock.now();
    agentKey = mintSecret('cak');
    revokedKeys = await revokeAgentKeys(tx, s.agentId, now);
    await insertAgentKey(tx, { agentId: s.agentId, digest: secretDigest(agentKey), start: secretDisplayStart(agentKey), createdAt: now });
  }
  const tls = opts.withCertificate ? await issueTls(deps, tx, s, opts.client, opts.actor) : null;
  return { credentials: { agent_key: agentKey, ssh: await sshCredentials(tx, deps, s, opts.client), tls }, revokedKeys };
};
