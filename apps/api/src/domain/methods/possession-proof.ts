/**
 * The proof every enrollment ends with, whatever its credential: the agent
 * signs `{enrollment_id}\n{challenge}` with the private key it enrolled,
 * before the challenge expires. Three bad signatures fail an enrollment that
 * was never verified. A repeated verify (a lost answer) gets a fresh poll
 * token only while the first was never used: after a poll it is a replay of a
 * captured request and would steal the credentials (#8.4).
 *
 * Pure: the enrollment row read under its lock in, a decision out.
 */
import { parseSshEd25519PublicKey, signedMessage, verifyEnrollmentSignature } from '@airlock/crypto';
import type { EnrollmentRow } from '../../store/enrollments.ts';

const MAX_BAD_SIGNATURES = 3;

export type ProofEnrollment = Pick<
  EnrollmentRow,
  'id' | 'status' | 'publicKey' | 'challenge' | 'challengeExpiresAt' | 'verifyAttempts' | 'lastPollAt' | 'credentialsIssuedAt'
>;

export type ProofDecision =
  /** One answer for every cause (the reason goes to the audit row only). */
  | { outcome: 'denied'; reason: 'unknown_enrollment' | 'failed' | 'rejected' | 'expired' | 'poll_token_used' }
  | { outcome: 'challenge_expired' }
  /** Counted; `failed` when this one was the last allowed. */
  | { outcome: 'bad_signature'; attempts: number; failed: boolean }
  /** Proven for the first time: the identity decision follows (rekey-proof.ts). */
  | { outcome: 'verified' }
  /** Proven again before any poll: a fresh poll token replaces the old one. */
  | { outcome: 'repeated' };

export const decidePossessionProof = (e: ProofEnrollment | null, signature: string, now: Date): ProofDecision => {
  if (!e) return { outcome: 'denied', reason: 'unknown_enrollment' };
  if (e.status === 'failed' || e.status === 'rejected' || e.status === 'expired') return { outcome: 'denied', reason: e.status };
  if (now >= e.challengeExpiresAt) return { outcome: 'challenge_expired' };
  const key = parseSshEd25519PublicKey(e.publicKey);
  if (!verifyEnrollmentSignature(key.blob, signedMessage(e.id, e.challenge), signature)) {
    const attempts = e.verifyAttempts + 1;
    return { outcome: 'bad_signature', attempts, failed: e.status === 'awaiting_verification' && attempts >= MAX_BAD_SIGNATURES };
  }
  if (e.status === 'awaiting_verification') return { outcome: 'verified' };
  if (e.lastPollAt !== null || e.credentialsIssuedAt !== null) return { outcome: 'denied', reason: 'poll_token_used' };
  return { outcome: 'repeated' };
};
