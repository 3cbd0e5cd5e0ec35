/** Operator decisions on an enrollment: approve (or the site policy doing it) and reject. */
import type { Executor } from '../db/client.ts';
import { ApiError } from '../errors.ts';
import type { IdentityChoice } from '@airlock/schema';
import { insertSeparateAgent, lockAgent, releaseRevokedMachineUid, upsertAgentForEnrollment } from '../store/agents.ts';
import { revokeAgentCertificates } from '../store/certificates.ts';
import { lockEnrollment, updateEnrollment, type EnrollmentRow } from '../store/enrollments.ts';
import { recordAudit } from './audit.ts';
import { EVERY_TENANT, type Scope } from '../store/scope.ts';
import type { Actor, Client, Deps } from './deps.ts';

const DECIDABLE = new Set(['awaiting_approval', 'pending_confirmation']);

/**
 * Approves a locked enrollment: creates its agent, or takes over the row of
 * the same machine (`replace`), or for an identity collision the operator
 * chose to keep apart, creates a new agent beside it (`separate`, issue 22).
 * The agent key itself is minted when the agent collects it, because it is
 * shown exactly once and only to the agent.
 */
export const approveInTransaction = async (
  deps: Deps,
  tx: Executor,
  e: EnrollmentRow,
  decidedBy: string,
  notes: string | null,
  client: Client | null,
  identity: IdentityChoice = 'replace',
): Promise<void> => {
  const now = deps.clock.now();
  const separateFrom = identity === 'separate' ? e.reuseAgentId : null;
  if (e.machineUid) {
    const released = await releaseRevokedMachineUid(tx, e.machineUid, e.siteCode);
    if (released) {
      await recordAudit(tx, deps, client, {
        eventType: 'agent.machine_moved',
        actor: decidedBy,
        siteCode: e.siteCode,
        enrollmentId: e.id,
        agentId: released.id,
        details: { machine_uid: e.machineUid, from_site_code: released.siteCode },
      });
    }
  }
  const row = { siteCode: e.siteCode, enrollmentId: e.id, publicKey: e.publicKey, fingerprint: e.fingerprint, hostname: e.hostname, labels: e.labels, createdBy: decidedBy, now };
  let agent;
  if (separateFrom !== null && e.machineUid !== null) {
    agent = await insertSeparateAgent(tx, { ...row, machineUid: e.machineUid });
  } else {
    // The agent this takes over keeps its instance of the machine_uid.
    const reused = e.reuseAgentId ? await lockAgent(tx, e.reuseAgentId, EVERY_TENANT) : null;
    const machineInstance = reused && reused.machineUid === e.machineUid ? reused.machineInstance : 0;
    agent = await upsertAgentForEnrollment(tx, { ...row, machineUid: e.machineUid, machineInstance });
  }
  if (!agent) throw approveConflict(e);
  // A re-key (or a machine's return with a new key): certificates of any other key die now, in this transaction (issue 18).
  const replaced = await revokeAgentCertificates(tx, agent.id, 'key_replaced', now, agent.fingerprint);
  if (replaced > 0) {
    await recordAudit(tx, deps, client, {
      eventType: 'agent.certificates_revoked',
      actor: decidedBy,
      siteCode: e.siteCode,
      enrollmentId: e.id,
      agentId: agent.id,
      details: { reason: 'key_replaced', revoked_certificates: replaced },
    });
  }
  await updateEnrollment(tx, e.id, {
    status: 'approved',
    agentId: agent.id,
    decidedBy,
    decidedAt: now,
    notes,
    updatedAt: now,
    // Separate: nothing was replaced (the colliding agent keeps its key and cak_).
    ...(separateFrom !== null ? { reuseAgentId: null, replacesFingerprint: null } : {}),
  });
  deps.metrics?.approved(e.method, (now.getTime() - e.createdAt.getTime()) / 1000);
  const event = approvedAuditEvent(separateFrom !== null ? { ...e, reuseAgentId: null } : e, decidedBy, notes, agent.id);
  const details = e.status === 'pending_confirmation' ? { ...event.details, identity, ...(separateFrom ? { separate_from_agent_id: separateFrom, machine_instance: agent.machineInstance } : {}) } : event.details;
  await recordAudit(tx, deps, client, { ...event, details });
};

/** The machine's agent row belongs to another site: approving would take it over. */
export const approveConflict = (e: Pick<EnrollmentRow, 'siteCode' | 'id'>) =>
  new ApiError('site_conflict', 'This machine is enrolled at another site; move it deliberately first', {
    audit: { eventType: 'enrollment.approve_conflict', siteCode: e.siteCode, enrollmentId: e.id },
  });

/** The audit row of an approval, by an operator or the site policy (verify writes it in its own statement). */
export const approvedAuditEvent = (e: Pick<EnrollmentRow, 'siteCode' | 'id' | 'status' | 'reuseAgentId'>, decidedBy: string, notes: string | null, agentId: string | null) => ({
  eventType: 'enrollment.approved',
  actor: decidedBy,
  siteCode: e.siteCode,
  enrollmentId: e.id,
  agentId,
  details: { previous_status: e.status, reused_agent: e.reuseAgentId !== null, ...(notes ? { notes } : {}) },
});

/** Locks the enrollment and checks it still waits for a decision; the row lock makes racing decisions take turns. */
const lockDecidable = async (deps: Deps, tx: Executor, id: string, action: string, scope: Scope) => {
  const e = await lockEnrollment(tx, id, scope);
  if (!e) throw new ApiError('not_found', 'No such enrollment');
  const now = deps.clock.now();
  if (DECIDABLE.has(e.status) && e.approvalExpiresAt && now >= e.approvalExpiresAt) {
    return { e, error: 'expired' as const };
  }
  if (!DECIDABLE.has(e.status)) {
    throw new ApiError('invalid_state', `Cannot ${action} an enrollment that is ${e.status}`, {
      audit: { eventType: `enrollment.${action}_refused`, siteCode: e.siteCode, enrollmentId: e.id, details: { status: e.status } },
    });
  }
  return { e, error: null };
};

const expiredRefusal = (e: EnrollmentRow, action: string) =>
  new ApiError('invalid_state', `Cannot ${action} an enrollment that expired waiting for approval`, {
    audit: { eventType: `enrollment.${action}_refused`, siteCode: e.siteCode, enrollmentId: e.id, details: { status: 'expired' } },
  });

export const approveEnrollment = async (deps: Deps, id: string, notes: string | null, actor: Actor, client: Client, identity: IdentityChoice = 'replace') => {
  const by = actor.name;
  const outcome = await deps.db.transaction(async (tx) => {
    const { e, error } = await lockDecidable(deps, tx, id, 'approve', actor);
    if (error) {
      // The expiry is a state change worth keeping even though the approval is refused.
      await updateEnrollment(tx, e.id, { status: 'expired', updatedAt: deps.clock.now() });
      return expiredRefusal(e, 'approve');
    }
    if (identity === 'separate' && (e.status !== 'pending_confirmation' || e.reuseAgentId === null || e.machineUid === null)) {
      // Only an identity collision has another agent to stay apart from.
      return new ApiError('invalid_state', `Cannot approve as a separate agent an enrollment that is ${e.status} without an identity collision`, {
        audit: { eventType: 'enrollment.approve_refused', siteCode: e.siteCode, enrollmentId: e.id, details: { status: e.status, identity } },
      });
    }
    await approveInTransaction(deps, tx, e, by, notes, client, identity);
    return null;
  });
  if (outcome) throw outcome;
  return { id, status: 'approved' as const };
};

export const rejectEnrollment = async (deps: Deps, id: string, reason: string, actor: Actor, client: Client) => {
  const by = actor.name;
  const outcome = await deps.db.transaction(async (tx) => {
    const { e, error } = await lockDecidable(deps, tx, id, 'reject', actor);
    const now = deps.clock.now();
    if (error) {
      await updateEnrollment(tx, e.id, { status: 'expired', updatedAt: now });
      return expiredRefusal(e, 'reject');
    }
    await updateEnrollment(tx, e.id, { status: 'rejected', rejectReason: reason, decidedBy: by, decidedAt: now, updatedAt: now });
    await recordAudit(tx, deps, client, {
      eventType: 'enrollment.rejected',
      actor: by,
      siteCode: e.siteCode,
      enrollmentId: e.id,
      details: { reason, previous_status: e.status },
    });
    return null;
  });
  if (outcome) throw outcome;
  return { id, status: 'rejected' as const };
};
