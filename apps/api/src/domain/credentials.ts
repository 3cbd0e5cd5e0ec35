/**
 * What an agent is handed, built in one place for both answers that carry it:
 * the approved status answer (enrollment) and `POST /api/v1/agent/credentials`
 * (renewal, key rotation, recovery). `ssh` is filled by `sshCredentials`.
 */
import { issueAgentCertificate, mintSecret, parseSshEd25519PublicKey, secretDigest, secretDisplayStart } from '@airlock/crypto';
import type { AgentCredentials, TlsCredentials } from '@airlock/schema';
import type { Executor } from '../db/client.ts';
import { insertAgentKey, revokeAgentKeys } from '../store/agents.ts';
import { insertIssuedCertificate } from '../store/certificates.ts';
import { recordAudit } from './audit.ts';
import type { Client, Deps } from './deps.ts';

export interface CredentialSubject {
  agentId: string;
  siteCode: string;
  hostname: string;
  /** The agent's enrolled key, OpenSSH one-line form. */
  publicKey: string;
  enrollmentId: string | null;
}

/** The SPIFFE ID an agent's certificate names it by. */
export const spiffeId = (trustDomain: string, siteCode: string, agentId: string): string =>
  `spiffe://${trustDomain}/site/${siteCode}/agent/${agentId}`;

/**
 * The tunnel endpoint for the agent, or null when the api has none configured
 * (AIRLOCK_SSH_ENDPOINT unset). The tunnel work plugs in here, once, for both answers.
 */
export const sshCredentials = (_deps: Deps, _subject: CredentialSubject): AgentCredentials['ssh'] => null;

/**
 * Signs a certificate for the agent's enrolled key and records it. The CSR
 * has already been checked against that key; the certificate takes nothing
 * from it but the key, so what it says is decided here alone.
 */
const issueTls = async (deps: Deps, tx: Executor, s: CredentialSubject, client: Client | null, actor: string): Promise<TlsCredentials> => {
  const now = deps.clock.now();
  const ca = deps.ca.signer;
  const issued = await issueAgentCertificate(ca, {
    publicKeyBlob: parseSshEd25519PublicKey(s.publicKey).blob,
    hostname: s.hostname,
    spiffeId: spiffeId(deps.config.trustDomain, s.siteCode, s.agentId),
    now,
    ttlSeconds: deps.config.certTtlSeconds,
  });
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
  });
  await recordAudit(tx, deps, client, {
    eventType: 'agent.certificate_issued',
    actor,
    siteCode: s.siteCode,
    enrollmentId: s.enrollmentId,
    agentId: s.agentId,
    details: { serial: issued.serial, not_after: issued.notAfter.toISOString(), issuer: ca.fingerprint },
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
  return { credentials: { agent_key: agentKey, ssh: sshCredentials(deps, s), tls }, revokedKeys };
};
