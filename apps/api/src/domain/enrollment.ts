/**
 * The public enrollment lifecycle: enroll (present a pairing code or site key
 * and a public key), verify (prove possession of the private key), status
 * (poll for the operator's decision and collect the agent key once).
 */
import { randomUUID } from 'node:crypto';
import {
  checkAgentCsr,
  isWellFormedSecret,
  mintSecret,
  newChallenge,
  normalizePairingCode,
  parseSshEd25519PublicKey,
  secretDigest,
  secretDisplayStart,
  signedMessage,
  sshFingerprint,
  verifyEnrollmentSignature,
  verifyRekeySignature,
} from '@airlock/crypto';
import type {
  EnrollRequest,
  EnrollResponse,
  EnrollmentStatus,
  StatusApprovedResponse,
  StatusWaitingResponse,
  VerifyRequest,
  VerifyResponse,
} from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { lockAgent, type AgentRow } from '../store/agents.ts';
import {
  approveVerifiedEnrollment,
  createEnrollment,
  collectAgentKey,
  lockEnrollmentForStatus,
  lockEnrollmentWithMachineAgent,
  updateEnrollment,
  updateEnrollmentAudited,
  type EnrollmentRow,
} from '../store/enrollments.ts';
import { auditRow, countAudit } from './audit.ts';
import { issueCredentials } from './credentials.ts';
import { approveConflict, approvedAuditEvent, approveInTransaction } from './decisions.ts';
import { pairingCodeDigest } from './pairing-codes.ts';
import type { Client, Deps } from './deps.ts';

export const MAX_BAD_SIGNATURES = 3;
/** Slack for network jitter before a poll counts as too fast. */
const POLL_GRACE_MS = 500;

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

/**
 * A machine belongs to one site; moving it is an operator's deliberate act
 * (revoking its agent at the old site), never a side effect. Given the agent
 * that holds the machine_uid (read with the enrollment's lock), returns it
 * when it is this site's. `code` is how the route may say no: enroll answers
 * 409 site_conflict; verify, which the contract gives no 409, answers
 * enrollment_denied (a machine claimed elsewhere since the enroll).
 */
const checkForeignMachine = (
  deps: Deps,
  siteCode: string,
  machineUid: string,
  existing: AgentRow | null,
  code: 'site_conflict' | 'enrollment_denied',
) => {
  if (existing && existing.siteCode !== siteCode) {
    // Revoked by an operator: the machine is free to enroll elsewhere.
    if (existing.status === 'revoked') return null;
    throw foreignMachine(deps, siteCode, machineUid, existing, code);
  }
  return existing;
};

const foreignMachine = (
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

type Decision = {
  status: 'approved' | 'awaiting_approval' | 'pending_confirmation';
  reuseAgentId: string | null;
  reason: string;
  /** The active agent's current fingerprint when this enrollment would replace its key. */
  replacesFingerprint: string | null;
  rekeySigned: boolean;
};

/**
 * What a freshly verified enrollment waits for, from its method, policy and
 * machine identity. Any change of key on an active agent waits for an
 * operator (pending_confirmation), whatever the policy or hostname, unless
 * the agent's current key signed the change (#8.2): otherwise anyone holding
 * the site's cek_ could take over a machine by its machine_uid. A key that
 * belongs to a revoked agent (and to no active one) waits for an operator
 * too, whatever the machine_uid the client chose (issue 18): revocation must
 * stick on auto sites.
 */
const decideAfterVerification = (
  deps: Deps,
  e: EnrollmentRow,
  machineAgent: AgentRow | null,
  rekeySignature: string | undefined,
  revokedKeyAgentId: string | null,
): Decision => {
  const decision = decideByMachine(deps, e, machineAgent, rekeySignature);
  if (decision.status === 'approved' && revokedKeyAgentId !== null) {
    // The same hold, and the same answer, as a manual site's: nothing tells this cause from another.
    return { ...decision, status: 'awaiting_approval', reason: 'revoked_key' };
  }
  return decision;
};

const decideByMachine = (deps: Deps, e: EnrollmentRow, machineAgent: AgentRow | null, rekeySignature: string | undefined): Decision => {
  const byPolicy = e.autoApprove ? ('approved' as const) : ('awaiting_approval' as const);
  const existing = e.machineUid ? checkForeignMachine(deps, e.siteCode, e.machineUid, machineAgent, 'enrollment_denied') : null;
  if (!existing) return { status: byPolicy, reuseAgentId: null, reason: 'new', replacesFingerprint: null, rekeySigned: false };
  const keyChanges = existing.fingerprint !== e.fingerprint;
  const replacesFingerprint = keyChanges ? existing.fingerprint : null;
  if (existing.status === 'revoked') {
    // A revoked machine comes back only by an operator's hand, whatever the policy.
    return { status: 'awaiting_approval', reuseAgentId: existing.id, reason: 'revoked_agent', replacesFingerprint, rekeySigned: false };
  }
  if (!keyChanges) {
    return { status: byPolicy, reuseAgentId: existing.id, reason: 'reuse', replacesFingerprint: null, rekeySigned: false };
  }
  const signed =
    rekeySignature !== undefined &&
    verifyRekeySignature(parseSshEd25519PublicKey(existing.publicKey).blob, e.id, e.challenge, e.fingerprint, rekeySignature);
  if (signed) {
    // The current key vouches for its successor: the site policy decides, as for any enrollment.
    return { status: byPolicy, reuseAgentId: existing.id, reason: 'rekey_signed', replacesFingerprint, rekeySigned: true };
  }
  const windowStart = deps.clock.now().getTime() - deps.config.collisionWindowSeconds * 1000;
  const seenRecently = existing.lastSeenAt !== null && existing.lastSeenAt.getTime() >= windowStart;
  let reason = 'key_change_unsigned';
  if (rekeySignature !== undefined) reason = 'rekey_signature_invalid';
  else if (seenRecently && existing.hostname !== e.hostname) reason = 'identity_collision';
  return { status: 'pending_confirmation', reuseAgentId: existing.id, reason, replacesFingerprint, rekeySigned: false };
};

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

export type StatusResult =
  | { httpStatus: 202; body: StatusWaitingResponse }
  | { httpStatus: 200; body: StatusApprovedResponse };

export const pollStatus = async (deps: Deps, pollToken: string | null, client: Client): Promise<StatusResult> => {
  const invalidToken = (enrollmentId: string | null = null, siteCode: string | null = null) =>
    new ApiError('invalid_token', 'Unknown poll token', {
      audit: { eventType: 'status.invalid_token', enrollmentId, siteCode, anonymous: true },
    });
  if (!pollToken || !isWellFormedSecret('ept', pollToken)) throw invalidToken();
  const digest = secretDigest(pollToken);
  const now = deps.clock.now();

  // BEGIN, one locking read, one write (two more only for a certificate), COMMIT.
  const outcome = await deps.db.transaction(async (tx): Promise<Outcome<StatusResult>> => {
    const locked = await lockEnrollmentForStatus(tx, digest);
    if (!locked) throw invalidToken();
    const e = locked.e;
    const refuse = (error: ApiError) => ({ ok: false as const, error });

    if (e.lastPollAt && now.getTime() - e.lastPollAt.getTime() < e.pollInterval * 1000 - POLL_GRACE_MS) {
      // RFC 8628 §3.5: the client must add 5 s to its interval from now on.
      const interval = e.pollInterval + 5;
      await updateEnrollment(tx, e.id, { pollInterval: interval, lastPollAt: now, updatedAt: now });
      return refuse(new ApiError('slow_down', `Polling too fast; poll every ${interval} s`, { retryAfterSeconds: interval }));
    }
    // Every answer below records this poll; the write that carries it differs.
    const polled = { lastPollAt: now, updatedAt: now };

    switch (e.status) {
      case 'awaiting_approval':
      case 'pending_confirmation': {
        if (e.approvalExpiresAt && now >= e.approvalExpiresAt) {
          await updateEnrollmentAudited(tx, e.id, { ...polled, status: 'expired' }, [
            auditRow(deps, client, { eventType: 'enrollment.expired', actor: 'system', siteCode: e.siteCode, enrollmentId: e.id }),
          ]);
          return refuse(new ApiError('expired_token', 'The enrollment expired before an operator approved it; enroll again'));
        }
        await updateEnrollment(tx, e.id, polled);
        return { ok: true, value: { httpStatus: 202, body: { status: e.status, poll_interval: e.pollInterval } } };
      }
      case 'approved': {
        if (e.credentialsIssuedAt || !e.agentId) {
          await updateEnrollment(tx, e.id, polled);
          return refuse(
            new ApiError('credentials_already_issued', 'The credentials were already issued once', {
              audit: { eventType: 'status.credentials_already_issued', siteCode: e.siteCode, enrollmentId: e.id, agentId: e.agentId },
            }),
          );
        }
        // The agent's row lock (taken with the enrollment's) orders this against a
        // concurrent renewal on the agent routes: whichever mints last, exactly one key is live.
        const agentId = e.agentId;
        // Approved while the locking read waited for the enrollment's lock: that
        // read's snapshot predates the approval, so it cannot see the agent row
        // the approval created. A statement of its own, after the wait, does.
        const lockedAgentId = locked.lockedAgentId ?? (await lockAgent(tx, agentId))?.id ?? null;
        if (lockedAgentId === null) throw invalidToken(e.id, e.siteCode);
        // The certificate (when asked for) and the tunnel endpoint; the agent key is minted below.
        const { credentials } = await issueCredentials(
          deps,
          tx,
          { agentId, siteCode: e.siteCode, hostname: e.hostname, publicKey: e.publicKey, enrollmentId: e.id },
          { mintAgentKey: false, withCertificate: e.csr !== null, client, actor: 'agent' },
        );
        // Re-enrollment: the machine's older keys stop working as the new one is issued.
        const agentKey = mintSecret('cak');
        const reuse = e.reuseAgentId
          ? { eventType: 'enroll.reuse', actor: 'system', siteCode: e.siteCode, enrollmentId: e.id, agentId, details: {} }
          : null;
        const revoked = await collectAgentKey(
          tx,
          { enrollmentId: e.id, agentId, digest: secretDigest(agentKey), start: secretDisplayStart(agentKey), now },
          {
            // Counted below, with the number of keys the statement revoked.
            reuse: reuse ? auditRow(deps, client, reuse, false) : null,
            issued: auditRow(deps, client, { eventType: 'credentials.issued', actor: 'agent', siteCode: e.siteCode, enrollmentId: e.id, agentId }),
          },
        );
        if (reuse) countAudit(deps, { ...reuse, details: { revoked_keys: revoked } });
        return {
          ok: true,
          value: {
            httpStatus: 200,
            body: { status: 'approved', agent_id: agentId, site_code: e.siteCode, credentials: { ...credentials, agent_key: agentKey } },
          },
        };
      }
      case 'rejected':
        await updateEnrollment(tx, e.id, polled);
        return refuse(
          new ApiError('enrollment_rejected', `Enrollment rejected by the operator: ${e.rejectReason ?? 'no reason given'}`),
        );
      case 'expired':
        await updateEnrollment(tx, e.id, polled);
        return refuse(new ApiError('expired_token', 'The enrollment expired before an operator approved it; enroll again'));
      case 'awaiting_verification':
      case 'failed':
        throw invalidToken(e.id, e.siteCode);
    }
  });
  return unwrap(outcome);
};
