/**
 * What a verified enrollment waits for, from the site policy, the agent that
 * already holds its machine_uid, a re-key proof and whether its key is a
 * revoked agent's. Any change of key on an active agent waits for an operator
 * (pending_confirmation), whatever the policy or hostname, unless the agent's
 * current key signed the change (#8.2: the re-key proof, then approved at once
 * whatever the policy: a key rotation needs no operator); otherwise anyone
 * holding the site's cek_ could take over a machine by its machine_uid. A key
 * that belongs to a revoked agent (and to no active one) waits for an operator
 * too, whatever machine_uid the client chose (issue 18): revocation must stick
 * on auto sites. A machine belongs to one site: one held by another site's
 * live agent is refused.
 *
 * Pure: rows already read under the enrollment's lock in, a decision out.
 */
import { parseSshEd25519PublicKey, verifyRekeySignature } from '@airlock/crypto';
import type { AgentRow } from '../../store/agents.ts';
import type { EnrollmentRow } from '../../store/enrollments.ts';

export interface IdentityInput {
  enrollment: Pick<EnrollmentRow, 'id' | 'challenge' | 'fingerprint' | 'hostname' | 'siteCode' | 'machineUid' | 'autoApprove'>;
  /** The agent holding the enrollment's machine_uid, if any. */
  machineAgent: Pick<AgentRow, 'id' | 'siteCode' | 'status' | 'fingerprint' | 'publicKey' | 'hostname' | 'lastSeenAt'> | null;
  /** The body's rekey_signature: the machine's current key signing (id, challenge, new fingerprint). */
  rekeySignature: string | undefined;
  /** A revoked agent whose key this enrollment presents (and no active agent's). */
  revokedKeyAgentId: string | null;
  now: Date;
  /** A key change from another hostname within this window of the agent's last call is an identity collision. */
  collisionWindowSeconds: number;
}

export type Decision = {
  status: 'approved' | 'awaiting_approval' | 'pending_confirmation';
  reuseAgentId: string | null;
  /** For the audit row: new, reuse, rekey_signed, revoked_agent, revoked_key, key_change_unsigned, rekey_signature_invalid, identity_collision. */
  reason: string;
  /** The active agent's current fingerprint when this enrollment would replace its key. */
  replacesFingerprint: string | null;
  rekeySigned: boolean;
};

/** The machine_uid is held by a live agent of another site: verify refuses (enrollment_denied). */
export type ForeignMachine = { status: 'foreign_machine'; agent: { id: string; siteCode: string } };

export const decideIdentity = (input: IdentityInput): Decision | ForeignMachine => {
  const decision = decideByMachine(input);
  if (decision.status === 'approved' && input.revokedKeyAgentId !== null) {
    // The same hold, and the same answer, as a manual site's: nothing tells this cause from another.
    return { ...decision, status: 'awaiting_approval', reason: 'revoked_key' };
  }
  return decision;
};

const decideByMachine = ({ enrollment: e, machineAgent, rekeySignature, now, collisionWindowSeconds }: IdentityInput): Decision | ForeignMachine => {
  const byPolicy = e.autoApprove ? ('approved' as const) : ('awaiting_approval' as const);
  let existing = e.machineUid ? machineAgent : null;
  if (existing && existing.siteCode !== e.siteCode) {
    // Revoked by an operator: the machine is free to enroll elsewhere.
    if (existing.status !== 'revoked') return { status: 'foreign_machine', agent: { id: existing.id, siteCode: existing.siteCode } };
    existing = null;
  }
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
    // The current key vouches for its successor (issue 22: `airlock-agent rotate-key`): approved
    // with no operator whatever the policy, as the same key could already recover its credentials
    // alone (agent routes); it keeps its agent id and gains nothing it did not hold.
    return { status: 'approved', reuseAgentId: existing.id, reason: 'rekey_signed', replacesFingerprint, rekeySigned: true };
  }
  const windowStart = now.getTime() - collisionWindowSeconds * 1000;
  const seenRecently = existing.lastSeenAt !== null && existing.lastSeenAt.getTime() >= windowStart;
  let reason = 'key_change_unsigned';
  if (rekeySignature !== undefined) reason = 'rekey_signature_invalid';
  else if (seenRecently && existing.hostname !== e.hostname) reason = 'identity_collision';
  return { status: 'pending_confirmation', reuseAgentId: existing.id, reason, replacesFingerprint, rekeySigned: false };
};

/**
 * Issue 22: clones kept `separate` share a machine_uid, and the agent the
 * locking read picked (the one seen last) may not be the one rotating its
 * key. Among the machine's live agents of the enrollment's site, the one
 * whose current key made the re-key proof; null when none did.
 */
export const rekeySigner = <A extends Pick<AgentRow, 'siteCode' | 'status' | 'publicKey'>>(
  agents: readonly A[],
  enrollment: Pick<EnrollmentRow, 'id' | 'challenge' | 'fingerprint' | 'siteCode'>,
  rekeySignature: string,
): A | null =>
  agents.find(
    (a) =>
      a.siteCode === enrollment.siteCode &&
      a.status === 'active' &&
      verifyRekeySignature(parseSshEd25519PublicKey(a.publicKey).blob, enrollment.id, enrollment.challenge, enrollment.fingerprint, rekeySignature),
  ) ?? null;
