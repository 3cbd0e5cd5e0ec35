/**
 * Verify: the agent proves it holds the key it enrolled
 * (methods/possession-proof.ts), and the enrollment then waits for what
 * methods/rekey-proof.ts decides from the site policy and the machine's
 * existing agent, or is approved at once. One transaction: BEGIN, one
 * locking read, one write, COMMIT; the enrollment's row lock orders
 * concurrent verifies and a verify against an operator's decision.
 */
import { mintSecret, secretDigest } from '@airlock/crypto';
import type { EnrollmentStatus, VerifyRequest, VerifyResponse } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { getAgentsByMachineUids } from '../store/agents.ts';
import { approveVerifiedEnrollment, lockEnrollmentWithMachineAgent, updateEnrollmentAudited } from '../store/enrollments.ts';
import { auditRow, countAudit } from './audit.ts';
import { approveConflict, approvedAuditEvent, approveInTransaction } from './decisions.ts';
import type { Client, Deps } from './deps.ts';
import { foreignMachine } from './enroll.ts';
import { decidePossessionProof } from './methods/possession-proof.ts';
import { decideIdentity, rekeySigner } from './methods/rekey-proof.ts';
import { unwrap, type Outcome } from './outcome.ts';

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
    const proof = decidePossessionProof(e, body.signature, now);
    if (proof.outcome === 'denied') throw deny(proof.reason);
    if (!locked || !e) throw deny('unknown_enrollment');
    if (proof.outcome === 'challenge_expired') {
      throw new ApiError('expired_token', 'The challenge has expired; enroll again', {
        audit: { eventType: 'verify.expired', siteCode: e.siteCode, enrollmentId: e.id },
      });
    }
    if (proof.outcome === 'bad_signature') {
      const { attempts, failed } = proof;
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
    if (proof.outcome === 'verified') {
      let machineAgent = locked.machineAgent;
      if (body.rekey_signature !== undefined && e.machineUid !== null && machineAgent !== null && machineAgent.fingerprint !== e.fingerprint) {
        // A clone kept separate (issue 22) rotating its key: the proof names which agent of the uid it is.
        machineAgent = rekeySigner(await getAgentsByMachineUids(tx, e.siteCode, [e.machineUid]), e, body.rekey_signature) ?? machineAgent;
      }
      const decision = decideIdentity({
        enrollment: e,
        machineAgent,
        rekeySignature: body.rekey_signature,
        revokedKeyAgentId: locked.revokedKeyAgentId,
        now,
        collisionWindowSeconds: deps.config.collisionWindowSeconds,
      });
      if (decision.status === 'foreign_machine') throw foreignMachine(deps, e.siteCode, e.machineUid ?? '', decision.agent, 'enrollment_denied');
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
            // The machine's agent this takes over keeps its instance (issue 22: clones enrolled separately).
            { ...e, machineInstance: decision.reuseAgentId !== null ? (machineAgent?.machineInstance ?? 0) : 0 },
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
      // A retry after a lost response (never polled: possession-proof.ts refuses
      // a replay). Same challenge, fresh poll token replacing the old one.
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
