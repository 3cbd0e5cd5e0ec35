/**
 * The public enrollment lifecycle: enroll (present a pairing code or site key
 * and a public key) and verify (prove possession of the private key). What a
 * verified enrollment waits for is decided in verify-decision.ts; the status
 * poll (the operator's decision, the agent key collected once) is
 * enrollment-status.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  checkAgentCsr,
  mintSecret,
  newChallenge,
  normalizePairingCode,
  parseSshEd25519PublicKey,
  secretDigest,
  signedMessage,
  sshFingerprint,
  verifyEnrollmentSignature,
} from '@airlock/crypto';
import type { EnrollRequest, EnrollResponse, EnrollmentStatus, VerifyRequest, VerifyResponse } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import {
  approveVerifiedEnrollment,
  createEnrollment,
  lockEnrollmentWithMachineAgent,
  updateEnrollmentAudited,
} from '../store/enrollments.ts';
import { auditRow, countAudit } from './audit.ts';
import { approveConflict, approvedAuditEvent, approveInTransaction } from './decisions.ts';
import { pairingCodeDigest } from './pairing-codes.ts';
import { decideAfterVerification, foreignMachine } from './verify-decision.ts';
import type { Client, Deps } from './deps.ts';

const MAX_BAD_SIGNATURES = 3;

const DENIED_MESSAGE = 'Enrollment denied: the site, pairing code or enrollment key is not valid';

/** Refusals found inside a transaction whose other writes must still commit. */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: ApiError };
const unwrap = <T>(o: Outcome<T>): T => {
  if (!o.ok) throw o.error;
  return o.value;
};

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
  let credentialDigest: string;
  if (body.enrollment_key !== undefined) {
    credentialDigest = secretDigest(body.enrollment_key);
  } else {
    const canonical = normalizePairingCode(body.pairing_code ?? '');
    if (!canonical) throw invalid('pairing_code', 'is not a pairing code (12 symbols, XXXX-XXXX-XXXX)');
    credentialDigest = pairingCodeDigest(deps.serverSecret, canonical);
  }

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
    { kind: method, digest: credentialDigest },
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
  if (result.outcome === 'denied') throw denied(body.site_code, method);
  if (result.outcome === 'foreign_machine') {
    throw foreignMachine(deps, body.site_code, body.machine_uid ?? '', { id: result.agentId, siteCode: result.otherSiteCode }, 'site_conflict');
  }
  countAudit(deps, created);
  // Issue 18: a leaked cek_ can spend a site's uses; these rows are what an alert watches for.
  for (const [fired, eventType] of [
    [result.alerts.usesHigh, 'site.enrollment_key_uses_high'],
    [result.alerts.burst, 'site.enrollment_key_use_burst'],
  ] as const) {
    if (!fired) continue;
    countAudit(deps, keyAlert(eventType, body.site_code, id));
    deps.logger.warn(eventType, { site_code: body.site_code, enrollment_id: id, client_ip: client.ip });
  }

  return { enrollment_id: id, challenge, expires_at: expiresAt.toISOString() };
};

/** A site key's use alert (its figures are added by the statement that detects it). */
const keyAlert = (eventType: string, siteCode: string, enrollmentId: string) => ({ eventType, actor: 'system', siteCode, enrollmentId, details: {} });

const denied = (siteCode: string, method: string) =>
  new ApiError('enrollment_denied', DENIED_MESSAGE, {
    // A denial at a real site keeps its own row (site_code set); one at an unknown site is only counted.
    audit: { eventType: 'enroll.denied', siteCode, anonymous: true, details: { method, attempted_site_code: siteCode } },
  });

export const verify = async (deps: Deps, body: VerifyRequest, client: Client): Promise<VerifyResponse> => {
  const now = deps.clock.now();
  // BEGIN, one locking read, one write, COMMIT: the enrollment's row lock
  // still orders concurrent verifies (and a verify against a decision), and
  // each step's writes and audit rows go in one statement (store/enrollments.ts).
  const outcome = await deps.db.transaction(async (tx): Promise<Outcome<VerifyResponse>> => {
    const locked = await lockEnrollmentWithMachineAgent(tx, body.enrollment_id);
    const e = locked?.e ?? null;
    const deny = (reason: string) =>
      new ApiError('enrollment_denied', 'Enrollment denied: unknown or failed enrollment', {
        audit: { eventType: 'verify.denied', siteCode: e?.siteCode ?? null, enrollmentId: e ? e.id : null, anonymous: true, details: { reason } },
      });
    if (!locked || !e) throw deny('unknown_enrollment');
    if (e.status === 'failed' || e.status === 'rejected' || e.status === 'expired') throw deny(e.status);
    if (now >= e.challengeExpiresAt) {
      throw new ApiError('expired_token', 'The challenge has expired; enroll again', {
        audit: { eventType: 'verify.expired', siteCode: e.siteCode, enrollmentId: e.id },
      });
    }

    const key = parseSshEd25519PublicKey(e.publicKey);
    const good = verifyEnrollmentSignature(key.blob, signedMessage(e.id, e.challenge), body.signature);
    if (!good) {
      const attempts = e.verifyAttempts + 1;
      const failed = e.status === 'awaiting_verification' && attempts >= MAX_BAD_SIGNATURES;
      await updateEnrollmentAudited(tx, e.id, { verifyAttempts: attempts, updatedAt: now, ...(failed ? { status: 'failed' as const } : {}) }, [
        auditRow(deps, client, {
          eventType: failed ? 'verify.failed' : 'verify.bad_signature',
          actor: 'agent',
          siteCode: e.siteCode,
          enrollmentId: e.id,
          details: { attempts },
        }),
      ]);
      return {
        ok: false,
        error: new ApiError(
          'signature_invalid',
          failed ? 'Signature invalid; too many bad signatures, the enrollment has failed' : 'Signature invalid',
        ),
      };
    }

    const pollToken = mintSecret('ept');
    let status: EnrollmentStatus = e.status;
    if (e.status === 'awaiting_verification') {
      const decision = decideAfterVerification(deps, e, locked.machineAgent, body.rekey_signature, locked.revokedKeyAgentId);
      status = decision.status === 'approved' ? 'awaiting_approval' : decision.status;
      const verified = {
        status,
        pollTokenDigest: secretDigest(pollToken),
        approvalExpiresAt: addSeconds(now, deps.config.approvalTtlSeconds),
        reuseAgentId: decision.reuseAgentId,
        replacesFingerprint: decision.replacesFingerprint,
        rekeySigned: decision.rekeySigned,
        revokedKeyAgentId: locked.revokedKeyAgentId,
        updatedAt: now,
      };
      const verifiedAudit = auditRow(deps, client, {
        eventType: 'verify.ok',
        actor: 'agent',
        siteCode: e.siteCode,
        enrollmentId: e.id,
        agentId: decision.reuseAgentId,
        details: {
          status: decision.status,
          reason: decision.reason,
          ...(decision.replacesFingerprint ? { replaces_fingerprint: decision.replacesFingerprint, new_fingerprint: e.fingerprint } : {}),
          ...(locked.revokedKeyAgentId ? { revoked_key_agent_id: locked.revokedKeyAgentId } : {}),
        },
      });
      if (decision.reason === 'revoked_key') {
        deps.logger.warn('enroll.revoked_key', { enrollment_id: e.id, site_code: e.siteCode, revoked_agent_id: locked.revokedKeyAgentId });
      }
      if (decision.status === 'pending_confirmation') {
        deps.logger.warn('enroll.identity_collision', {
          enrollment_id: e.id,
          agent_id: decision.reuseAgentId,
          site_code: e.siteCode,
          reason: decision.reason,
        });
      }
      const machineHeldElsewhere =
        locked.machineAgent !== null && locked.machineAgent.siteCode !== e.siteCode && locked.machineAgent.status === 'revoked';
      if (decision.status !== 'approved' || machineHeldElsewhere) {
        await updateEnrollmentAudited(tx, e.id, verified, [verifiedAudit]);
      }
      if (decision.status === 'approved') {
        const waiting = { ...e, status: 'awaiting_approval' as const, reuseAgentId: decision.reuseAgentId };
        if (machineHeldElsewhere) {
          // Rare: a revoked agent of another site still holds the machine_uid and is
          // released first (with its own audit row); the general path does it.
          await approveInTransaction(deps, tx, waiting, 'system', null, client);
        } else {
          // The site policy approves at once: verified and approved in one statement.
          const certificatesRevoked = {
            eventType: 'agent.certificates_revoked',
            actor: 'system',
            siteCode: e.siteCode,
            enrollmentId: e.id,
            details: { reason: 'key_replaced' },
          };
          const approved = await approveVerifiedEnrollment(
            tx,
            e,
            'system',
            now,
            { ...verified, status: 'approved', decidedBy: 'system', decidedAt: now, notes: null },
            {
              verified: verifiedAudit,
              approved: auditRow(deps, client, approvedAuditEvent(waiting, 'system', null, null)),
              // Written only when the statement revoked a replaced key's certificates; counted below once known.
              certificatesRevoked: auditRow(deps, client, certificatesRevoked, false),
            },
          );
          if (!approved) throw approveConflict(e);
          if (approved.revokedCertificates > 0) countAudit(deps, certificatesRevoked);
          deps.metrics?.approved(e.method, (now.getTime() - e.createdAt.getTime()) / 1000);
        }
        status = 'approved';
      }
    } else {
      // A retry after a lost response gets a fresh poll token, but only while the
      // current one has never been used: once the agent has polled, a repeated
      // verify is a replay of a captured request and would steal the credentials (#8.4).
      if (e.lastPollAt !== null || e.credentialsIssuedAt !== null) throw deny('poll_token_used');
      // Same challenge, fresh poll token replacing the old one.
      await updateEnrollmentAudited(tx, e.id, { pollTokenDigest: secretDigest(pollToken), updatedAt: now }, [
        auditRow(deps, client, {
          eventType: 'verify.repeated',
          actor: 'agent',
          siteCode: e.siteCode,
          enrollmentId: e.id,
          details: { status: e.status },
        }),
      ]);
    }
    const visible = status === 'approved' || status === 'pending_confirmation' ? status : 'awaiting_approval';
    return { ok: true, value: { status: visible, poll_token: pollToken, poll_interval: e.pollInterval } };
  });
  return unwrap(outcome);
};
