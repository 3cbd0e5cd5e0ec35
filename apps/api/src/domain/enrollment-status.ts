/**
 * The status poll of the public enrollment lifecycle: the agent waits for the
 * operator's decision (RFC 8628-style polling with slow_down), then collects
 * its credentials once. Enroll and verify are enroll.ts and enroll-verify.ts.
 */
import { isWellFormedSecret, mintSecret, secretDigest, secretDisplayStart } from '@airlock/crypto';
import type { StatusApprovedResponse, StatusWaitingResponse } from '@airlock/schema';
import { ApiError } from '../errors.ts';
import { lockAgent } from '../store/agents.ts';
import { collectAgentKey, lockEnrollmentForStatus, updateEnrollment, updateEnrollmentAudited } from '../store/enrollments.ts';
import { auditRow, countAudit } from './audit.ts';
import { issueCredentials } from './credentials.ts';
import type { Client, Deps } from './deps.ts';
import { unwrap, type Outcome } from './outcome.ts';
import { EVERY_TENANT } from '../store/scope.ts';

/** Slack for network jitter before a poll counts as too fast. */
const POLL_GRACE_MS = 500;

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
        const lockedAgentId = locked.lockedAgentId ?? (await lockAgent(tx, agentId, EVERY_TENANT))?.id ?? null;
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
