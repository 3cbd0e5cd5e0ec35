/**
 * What a verified enrollment waits for (the decision verify makes from the
 * site policy, the machine's existing agent, a re-key proof and whether the
 * key is a revoked agent's), and the refusal for a machine of another site.
 * Pure decisions on rows already read under the enrollment's lock; no SQL.
 */
import { parseSshEd25519PublicKey, verifyRekeySignature } from '@airlock/crypto';
import { ApiError } from '../errors.ts';
import type { AgentRow } from '../store/agents.ts';
import type { EnrollmentRow } from '../store/enrollments.ts';
import type { Deps } from './deps.ts';

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

export type Decision = {
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
export const decideAfterVerification = (
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
