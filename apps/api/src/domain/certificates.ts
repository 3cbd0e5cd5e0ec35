/** For mTLS peers: Airlock's CA bundle, and the check of a certificate an agent presented. */
import { inspectPresentedCertificate } from '@airlock/crypto';
import type { CaResponse, CertificateVerifyResponse } from '@airlock/schema';
import { ApiError } from '../errors.ts';
import { findIssuedCertificate } from '../store/certificates.ts';
import type { Deps } from './deps.ts';

export const caCertificates = (deps: Deps): CaResponse => ({ ca_certificates: deps.ca.pem });

/**
 * 200 only for a certificate one of our trusted CAs signed, that we recorded
 * issuing (same serial and same bytes), that is inside its validity now, that
 * was never revoked, whose agent is active, and whose key is the agent's
 * current key (issue 18: a stolen key's certificate stays dead after the
 * machine is re-enrolled or re-keyed). Everything else is one refusal; the
 * cause is audited.
 */
export const verifyCertificate = async (deps: Deps, pem: string): Promise<CertificateVerifyResponse> => {
  const refuse = (reason: string, agentId: string | null = null, siteCode: string | null = null) =>
    new ApiError('invalid_certificate', 'The certificate is not valid', {
      audit: { eventType: 'certificate.denied', agentId, siteCode, details: { reason } },
    });
  const presented = await inspectPresentedCertificate(pem, deps.ca.trusted);
  if (!presented) throw refuse('not_signed_by_airlock');
  const issued = await findIssuedCertificate(deps.db, presented.serial);
  if (!issued || issued.fingerprint !== presented.fingerprint) throw refuse('unknown');
  const now = deps.clock.now();
  if (now < presented.notBefore || now > presented.notAfter) throw refuse('expired', issued.agentId, issued.siteCode);
  if (issued.agentStatus !== 'active') throw refuse(`agent_${issued.agentStatus}`, issued.agentId, issued.siteCode);
  if (issued.revokedAt !== null) throw refuse('certificate_revoked', issued.agentId, issued.siteCode);
  // The key is read from the presented certificate (its bytes are the recorded ones), so rows issued
  // before keys were recorded are judged too; a recorded key must agree with it.
  const key = presented.keyFingerprint;
  if (key === null || key !== issued.agentKeyFingerprint || (issued.keyFingerprint !== null && issued.keyFingerprint !== key)) {
    throw refuse('key_replaced', issued.agentId, issued.siteCode);
  }
  return { agent_id: issued.agentId, site_code: issued.siteCode, status: issued.agentStatus };
};
