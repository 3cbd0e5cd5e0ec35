import { newAgentKey } from '@airlock/testing';
import { describe, expect, it } from 'vitest';
import { decidePossessionProof, type ProofEnrollment } from './possession-proof.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');
const key = newAgentKey();

const enrollment = (over: Partial<ProofEnrollment> = {}): ProofEnrollment => ({
  id: '7f1c2d3e-0000-4000-8000-000000000001',
  status: 'awaiting_verification',
  publicKey: key.publicKey,
  challenge: 'Y2hhbGxlbmdlLWJ5dGVz',
  challengeExpiresAt: new Date(NOW.getTime() + 60_000),
  verifyAttempts: 0,
  lastPollAt: null,
  credentialsIssuedAt: null,
  ...over,
});
const signed = (e: ProofEnrollment) => key.sign(e.id, e.challenge);

describe('proof of the enrolled key', () => {
  it('verifies a signature of the enrolled key over the enrollment id and challenge', () => {
    const e = enrollment();
    expect(decidePossessionProof(e, signed(e), NOW)).toEqual({ outcome: 'verified' });
  });

  it('denies an unknown enrollment and one that failed, was rejected or expired, the same way', () => {
    const e = enrollment();
    expect(decidePossessionProof(null, signed(e), NOW)).toEqual({ outcome: 'denied', reason: 'unknown_enrollment' });
    for (const status of ['failed', 'rejected', 'expired'] as const) {
      expect(decidePossessionProof(enrollment({ status }), signed(e), NOW)).toEqual({ outcome: 'denied', reason: status });
    }
  });

  it('refuses a good signature once the challenge has expired', () => {
    const e = enrollment({ challengeExpiresAt: NOW });
    expect(decidePossessionProof(e, signed(e), NOW)).toEqual({ outcome: 'challenge_expired' });
  });

  it('counts bad signatures and fails an unverified enrollment at the third', () => {
    const other = newAgentKey();
    const e = enrollment();
    const wrong = other.sign(e.id, e.challenge);
    expect(decidePossessionProof(e, wrong, NOW)).toEqual({ outcome: 'bad_signature', attempts: 1, failed: false });
    expect(decidePossessionProof(enrollment({ verifyAttempts: 1 }), wrong, NOW)).toEqual({ outcome: 'bad_signature', attempts: 2, failed: false });
    expect(decidePossessionProof(enrollment({ verifyAttempts: 2 }), wrong, NOW)).toEqual({ outcome: 'bad_signature', attempts: 3, failed: true });
    // A signature over another enrollment's challenge is as bad as another key's.
    expect(decidePossessionProof(e, key.sign(e.id, 'b3RoZXItY2hhbGxlbmdl'), NOW)).toMatchObject({ outcome: 'bad_signature' });
  });

  it('never fails an enrollment already verified, however many bad signatures follow', () => {
    const e = enrollment({ status: 'awaiting_approval', verifyAttempts: 7 });
    expect(decidePossessionProof(e, 'AAAA', NOW)).toEqual({ outcome: 'bad_signature', attempts: 8, failed: false });
  });

  it('answers a repeated verify while the poll token was never used, and denies it as a replay after a poll or the credentials', () => {
    const e = enrollment({ status: 'awaiting_approval' });
    expect(decidePossessionProof(e, signed(e), NOW)).toEqual({ outcome: 'repeated' });
    expect(decidePossessionProof({ ...e, lastPollAt: NOW }, signed(e), NOW)).toEqual({ outcome: 'denied', reason: 'poll_token_used' });
    expect(decidePossessionProof({ ...e, status: 'approved', credentialsIssuedAt: NOW }, signed(e), NOW)).toEqual({
      outcome: 'denied',
      reason: 'poll_token_used',
    });
  });
});
