/**
 * Enroll: an agent presents its public key and a credential (a pairing code,
 * methods/pairing-code.ts, or the site's enrollment key, methods/site-key.ts)
 * and gets a challenge to sign. Every denial cause is the same statement
 * finding no row (store/enrollments.ts): the same work and the same answer.
 * Verify is enroll-verify.ts, the status poll enrollment-status.ts.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { checkAgentCsr, newChallenge, parseSshEd25519PublicKey, sshFingerprint } from '@airlock/crypto';
import type { EnrollRequest, EnrollResponse } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { createEnrollment } from '../store/enrollments.ts';
import { auditRow, countAudit } from './audit.ts';
import type { Client, Deps } from './deps.ts';
import { pairingCodeCredential } from './methods/pairing-code.ts';
import { siteKeyAlerts, siteKeyCredential, type SiteKeyAlert } from './methods/site-key.ts';

/** An address Postgres reads as inet, or null (a zone index, `unknown`): no allowlist contains it. */
const inetText = (ip: string): string | null => (isIP(ip) !== 0 && !ip.includes('%') ? ip : null);

const DENIED_MESSAGE = 'Enrollment denied: the site, pairing code or enrollment key is not valid';

export const enroll = async (deps: Deps, body: EnrollRequest, client: Client): Promise<EnrollResponse> => {
  const method = body.enrollment_key !== undefined ? 'enrollment_key' : 'pairing_code';
  const invalid = (field: string, problem: string) =>
    new ApiError('invalid_request', 'Invalid request', {
      fields: { [field]: problem },
      audit: { eventType: 'enroll.invalid', siteCode: null, anonymous: true, details: { fields: [field], method } },
    });

  let key;
  try {
    key = parseSshEd25519PublicKey(body.public_key);
  } catch (err) {
    throw invalid('public_key', err instanceof Error ? err.message : 'is not an ssh-ed25519 public key');
  }
  if (body.csr !== undefined) {
    // v1.1: a request for the enrolled key only; checked now, signed when the credentials are collected.
    const problem = await checkAgentCsr(body.csr, key.blob, body.hostname);
    if (problem) throw invalid('csr', problem);
  }
  const decided =
    body.enrollment_key !== undefined ? siteKeyCredential(body.enrollment_key) : pairingCodeCredential(body.pairing_code ?? '', deps.serverSecret);
  if (!decided.ok) throw invalid(decided.field, decided.problem);

  const now = deps.clock.now();
  const id = randomUUID();
  const challenge = newChallenge();
  const expiresAt = addSeconds(now, deps.config.challengeTtlSeconds);
  const fingerprint = sshFingerprint(key.blob);

  // Every denial cause is the same statement finding no row: the same work on
  // every path, and the same answer.
  const created = {
    eventType: 'enroll.created',
    actor: 'agent',
    siteCode: body.site_code,
    enrollmentId: id,
    details: { method, fingerprint, hostname: body.hostname, machine_uid: body.machine_uid ?? null },
  };
  const result = await createEnrollment(
    deps.db,
    // The address the api already trusts (http/client-ip.ts: the peer, or the edge's X-Forwarded-For), as inet text.
    { ...decided.credential, source: inetText(client.ip) },
    {
      id,
      siteCode: body.site_code,
      method,
      publicKey: key.canonical + (key.comment ? ` ${key.comment}` : ''),
      fingerprint,
      hostname: body.hostname,
      agentVersion: body.agent_version ?? null,
      machineUid: body.machine_uid ?? null,
      labels: body.labels ?? {},
      sourceIp: client.ip,
      userAgent: client.userAgent,
      challenge,
      challengeExpiresAt: expiresAt,
      csr: body.csr ?? null,
      status: 'awaiting_verification',
      pollInterval: deps.config.pollIntervalSeconds,
      createdAt: now,
    },
    // Counted below, once the statement says the row was written.
    auditRow(deps, client, created, false),
    method === 'enrollment_key'
      ? {
          usesHigh: auditRow(deps, client, keyAlert('site.enrollment_key_uses_high', body.site_code, id), false),
          burst: auditRow(deps, client, keyAlert('site.enrollment_key_use_burst', body.site_code, id), false),
          burstUses: deps.config.siteKeyBurstUses,
        }
      : null,
  );
  if (result.outcome === 'denied') throw result.sourceRefused ? sourceRefused(body.site_code, method, client.ip) : denied(body.site_code, method);
  if (result.outcome === 'foreign_machine') {
    throw foreignMachine(deps, body.site_code, body.machine_uid ?? '', { id: result.agentId, siteCode: result.otherSiteCode }, 'site_conflict');
  }
  countAudit(deps, created);
  // Issue 18: a leaked cek_ can spend a site's uses; these rows are what an alert watches for.
  for (const eventType of siteKeyAlerts(result.alerts)) {
    countAudit(deps, keyAlert(eventType, body.site_code, id));
    deps.logger.warn(eventType, { site_code: body.site_code, enrollment_id: id, client_ip: client.ip });
  }

  return { enrollment_id: id, challenge, expires_at: expiresAt.toISOString() };
};

/** A site key's use alert (its figures are added by the statement that detects it). */
const keyAlert = (eventType: SiteKeyAlert, siteCode: string, enrollmentId: string) => ({ eventType, actor: 'system', siteCode, enrollmentId, details: {} });

const denied = (siteCode: string, method: string) =>
  new ApiError('enrollment_denied', DENIED_MESSAGE, {
    // A denial at a real site keeps its own row (site_code set); one at an unknown site is only counted.
    audit: { eventType: 'enroll.denied', siteCode, anonymous: true, details: { method, attempted_site_code: siteCode } },
  });

/**
 * Issue 22: the site's allowed_cidrs do not hold the source. The same status,
 * body and work as any denial (the statement that refused is the one every
 * denial runs); only the audit row says why.
 */
const sourceRefused = (siteCode: string, method: string, ip: string) =>
  new ApiError('enrollment_denied', DENIED_MESSAGE, {
    audit: { eventType: 'enroll.source_refused', siteCode, anonymous: true, details: { method, attempted_site_code: siteCode, source_ip: ip } },
  });

/**
 * A machine belongs to one site; moving it is an operator's deliberate act
 * (revoking its agent at the old site), never a side effect. `code` is how
 * the route says no: enroll answers 409 site_conflict; verify, which the
 * contract gives no 409, answers enrollment_denied (a machine claimed
 * elsewhere since the enroll).
 */
export const foreignMachine = (
  deps: Deps,
  siteCode: string,
  machineUid: string,
  existing: { id: string; siteCode: string },
  code: 'site_conflict' | 'enrollment_denied',
) => {
  deps.logger.warn('enroll.site_conflict', { site_code: siteCode, other_site_code: existing.siteCode, agent_id: existing.id });
  return new ApiError(code, 'This machine is enrolled at another site; an operator must revoke it there first', {
    audit: {
      eventType: 'enroll.site_conflict',
      siteCode,
      agentId: existing.id,
      details: { machine_uid: machineUid, other_site_code: existing.siteCode },
    },
  });
};
