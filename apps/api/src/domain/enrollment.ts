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
  signedMessage,
  sshFingerprint,
  verifyEnrollmentSignature,
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
import type { Executor } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import { getAgentByMachineUid, lockAgent } from '../store/agents.ts';
import { insertEnrollment, lockEnrollment, lockEnrollmentByPollToken, updateEnrollment, type EnrollmentRow } from '../store/enrollments.ts';
import { consumePairingCode } from '../store/pairing-codes.ts';
import { consumeEnrollmentKey } from '../store/sites.ts';
import { recordAudit } from './audit.ts';
import { issueCredentials } from './credentials.ts';
import { approveInTransaction } from './decisions.ts';
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
      audit: { eventType: 'enroll.invalid', siteCode: null, details: { fields: [field], method } },
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

  await deps.db.transaction(async (tx) => {
    // Every denial cause is one statement that finds no row: the same work on
    // every path, and the same answer.
    let autoApprove: boolean;
    let enrollmentKeyId: string | null = null;
    let pairingCodeId: string | null = null;
    if (method === 'enrollment_key') {
      const used = await consumeEnrollmentKey(tx, body.site_code, credentialDigest, now);
      if (!used) throw denied(body.site_code, method);
      enrollmentKeyId = used.id;
      // Enrollment-key enrollments follow the site policy.
      autoApprove = used.policy === 'auto';
    } else {
      const used = await consumePairingCode(tx, body.site_code, credentialDigest, id, now);
      if (!used) throw denied(body.site_code, method);
      pairingCodeId = used.id;
      autoApprove = used.autoApprove;
    }

    if (body.machine_uid !== undefined) await refuseForeignMachine(deps, tx, body.site_code, body.machine_uid, 'site_conflict');

    await insertEnrollment(tx, {
      id,
      siteCode: body.site_code,
      method,
      pairingCodeId,
      enrollmentKeyId,
      autoApprove,
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
      updatedAt: now,
    });
    await recordAudit(tx, deps, client, {
      eventType: 'enroll.created',
      actor: 'agent',
      siteCode: body.site_code,
      enrollmentId: id,
      details: { method, fingerprint, hostname: body.hostname, machine_uid: body.machine_uid ?? null },
    });
  });

  return { enrollment_id: id, challenge, expires_at: expiresAt.toISOString() };
};

const denied = (siteCode: string, method: string) =>
  new ApiError('enrollment_denied', DENIED_MESSAGE, {
    // The attempted site is recorded for forensics; the cause is not knowable without extra work.
    audit: { eventType: 'enroll.denied', details: { method, attempted_site_code: siteCode } },
  });

/**
 * A machine belongs to one site; moving it is an operator's deliberate act
 * (revoking its agent at the old site), never a side effect. Returns the
 * machine's agent at this site, if any. `code` is how the route may say no:
 * enroll answers 409 site_conflict; verify, which the contract gives no 409,
 * answers enrollment_denied (a machine claimed elsewhere since the enroll).
 */
const refuseForeignMachine = async (
  deps: Deps,
  tx: Executor,
  siteCode: string,
  machineUid: string,
  code: 'site_conflict' | 'enrollment_denied',
) => {
  const existing = await getAgentByMachineUid(tx, machineUid);
  if (existing && existing.siteCode !== siteCode) {
    // Revoked by an operator: the machine is free to enroll elsewhere.
    if (existing.status === 'revoked') return null;
    deps.logger.warn('enroll.site_conflict', { site_code: siteCode, other_site_code: existing.siteCode, agent_id: existing.id });
    throw new ApiError(code, 'This machine is enrolled at another site; an operator must revoke it there first', {
      audit: {
        eventType: 'enroll.site_conflict',
        siteCode,
        agentId: existing.id,
        details: { machine_uid: machineUid, other_site_code: existing.siteCode },
      },
    });
  }
  return existing;
};

/** What a freshly verified enrollment waits for, from its method, policy and machine identity. */
const decideAfterVerification = async (
  deps: Deps,
  tx: Executor,
  e: EnrollmentRow,
): Promise<{ status: 'approved' | 'awaiting_approval' | 'pending_confirmation'; reuseAgentId: string | null; reason: string }> => {
  const existing = e.machineUid ? await refuseForeignMachine(deps, tx, e.siteCode, e.machineUid, 'enrollment_denied') : null;
  if (existing) {
    if (existing.status === 'revoked') {
      // A revoked machine comes back only by an operator's hand, whatever the policy.
      return { status: 'awaiting_approval', reuseAgentId: existing.id, reason: 'revoked_agent' };
    }
    const windowStart = deps.clock.now().getTime() - deps.config.collisionWindowSeconds * 1000;
    const seenRecently = existing.lastSeenAt !== null && existing.lastSeenAt.getTime() >= windowStart;
    if (existing.status === 'active' && seenRecently && existing.hostname !== e.hostname) {
      // Template-cloned VMs share a machine id: hold it for a person to look at.
      return { status: 'pending_confirmation', reuseAgentId: existing.id, reason: 'identity_collision' };
    }
    return { status: e.autoApprove ? 'approved' : 'awaiting_approval', reuseAgentId: existing.id, reason: 'reuse' };
  }
  return { status: e.autoApprove ? 'approved' : 'awaiting_approval', reuseAgentId: null, reason: 'new' };
};

export const verify = async (deps: Deps, body: VerifyRequest, client: Client): Promise<VerifyResponse> => {
  const now = deps.clock.now();
  const outcome = await deps.db.transaction(async (tx): Promise<Outcome<VerifyResponse>> => {
    const e = await lockEnrollment(tx, body.enrollment_id);
    const deny = (reason: string) =>
      new ApiError('enrollment_denied', 'Enrollment denied: unknown or failed enrollment', {
        audit: { eventType: 'verify.denied', siteCode: e?.siteCode ?? null, enrollmentId: e ? e.id : null, details: { reason } },
      });
    if (!e) throw deny('unknown_enrollment');
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
      await updateEnrollment(tx, e.id, { verifyAttempts: attempts, updatedAt: now, ...(failed ? { status: 'failed' as const } : {}) });
      await recordAudit(tx, deps, client, {
        eventType: failed ? 'verify.failed' : 'verify.bad_signature',
        actor: 'agent',
        siteCode: e.siteCode,
        enrollmentId: e.id,
        details: { attempts },
      });
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
      const decision = await decideAfterVerification(deps, tx, e);
      status = decision.status === 'approved' ? 'awaiting_approval' : decision.status;
      await updateEnrollment(tx, e.id, {
        status,
        pollTokenDigest: secretDigest(pollToken),
        approvalExpiresAt: addSeconds(now, deps.config.approvalTtlSeconds),
        reuseAgentId: decision.reuseAgentId,
        updatedAt: now,
      });
      await recordAudit(tx, deps, client, {
        eventType: 'verify.ok',
        actor: 'agent',
        siteCode: e.siteCode,
        enrollmentId: e.id,
        agentId: decision.reuseAgentId,
        details: { status: decision.status, reason: decision.reason },
      });
      if (decision.status === 'pending_confirmation') {
        deps.logger.warn('enroll.identity_collision', { enrollment_id: e.id, agent_id: decision.reuseAgentId, site_code: e.siteCode });
      }
      if (decision.status === 'approved') {
        await approveInTransaction(deps, tx, { ...e, status: 'awaiting_approval', reuseAgentId: decision.reuseAgentId }, 'system', null, client);
        status = 'approved';
      }
    } else {
      // A retry after a lost response: same challenge, fresh poll token replacing the old one.
      await updateEnrollment(tx, e.id, { pollTokenDigest: secretDigest(pollToken), updatedAt: now });
      await recordAudit(tx, deps, client, {
        eventType: 'verify.repeated',
        actor: 'agent',
        siteCode: e.siteCode,
        enrollmentId: e.id,
        details: { status: e.status },
      });
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
      audit: { eventType: 'status.invalid_token', enrollmentId, siteCode },
    });
  if (!pollToken || !isWellFormedSecret('ept', pollToken)) throw invalidToken();
  const digest = secretDigest(pollToken);
  const now = deps.clock.now();

  const outcome = await deps.db.transaction(async (tx): Promise<Outcome<StatusResult>> => {
    const e = await lockEnrollmentByPollToken(tx, digest);
    if (!e) throw invalidToken();
    const refuse = (error: ApiError) => ({ ok: false as const, error });

    if (e.lastPollAt && now.getTime() - e.lastPollAt.getTime() < e.pollInterval * 1000 - POLL_GRACE_MS) {
      // RFC 8628 §3.5: the client must add 5 s to its interval from now on.
      const interval = e.pollInterval + 5;
      await updateEnrollment(tx, e.id, { pollInterval: interval, lastPollAt: now, updatedAt: now });
      return refuse(new ApiError('slow_down', `Polling too fast; poll every ${interval} s`, { retryAfterSeconds: interval }));
    }
    await updateEnrollment(tx, e.id, { lastPollAt: now, updatedAt: now });

    switch (e.status) {
      case 'awaiting_approval':
      case 'pending_confirmation': {
        if (e.approvalExpiresAt && now >= e.approvalExpiresAt) {
          await updateEnrollment(tx, e.id, { status: 'expired', updatedAt: now });
          await recordAudit(tx, deps, client, { eventType: 'enrollment.expired', actor: 'system', siteCode: e.siteCode, enrollmentId: e.id });
          return refuse(new ApiError('expired_token', 'The enrollment expired before an operator approved it; enroll again'));
        }
        return { ok: true, value: { httpStatus: 202, body: { status: e.status, poll_interval: e.pollInterval } } };
      }
      case 'approved': {
        if (e.credentialsIssuedAt || !e.agentId) {
          return refuse(
            new ApiError('credentials_already_issued', 'The credentials were already issued once', {
              audit: { eventType: 'status.credentials_already_issued', siteCode: e.siteCode, enrollmentId: e.id, agentId: e.agentId },
            }),
          );
        }
        // The agent's row lock orders this against a concurrent renewal on the agent routes:
        // whichever mints last, exactly one key is live.
        const agent = await lockAgent(tx, e.agentId);
        if (!agent) throw invalidToken(e.id, e.siteCode);
        // Re-enrollment: the machine's older keys stop working as the new one is issued (issueCredentials).
        const { credentials, revokedKeys: revoked } = await issueCredentials(
          deps,
          tx,
          { agentId: e.agentId, siteCode: e.siteCode, hostname: e.hostname, publicKey: e.publicKey, enrollmentId: e.id },
          { mintAgentKey: true, withCertificate: e.csr !== null, client, actor: 'agent' },
        );
        const agentKey = credentials.agent_key;
        if (agentKey === null) throw new Error('issueCredentials minted no agent key');
        await updateEnrollment(tx, e.id, { credentialsIssuedAt: now, updatedAt: now });
        if (e.reuseAgentId) {
          await recordAudit(tx, deps, client, {
            eventType: 'enroll.reuse',
            actor: 'system',
            siteCode: e.siteCode,
            enrollmentId: e.id,
            agentId: e.agentId,
            details: { revoked_keys: revoked },
          });
        }
        await recordAudit(tx, deps, client, {
          eventType: 'credentials.issued',
          actor: 'agent',
          siteCode: e.siteCode,
          enrollmentId: e.id,
          agentId: e.agentId,
        });
        return {
          ok: true,
          value: {
            httpStatus: 200,
            body: { status: 'approved', agent_id: e.agentId, site_code: e.siteCode, credentials: { ...credentials, agent_key: agentKey } },
          },
        };
      }
      case 'rejected':
        return refuse(
          new ApiError('enrollment_rejected', `Enrollment rejected by the operator: ${e.rejectReason ?? 'no reason given'}`),
        );
      case 'expired':
        return refuse(new ApiError('expired_token', 'The enrollment expired before an operator approved it; enroll again'));
      case 'awaiting_verification':
      case 'failed':
        throw invalidToken(e.id, e.siteCode);
    }
  });
  return unwrap(outcome);
};
