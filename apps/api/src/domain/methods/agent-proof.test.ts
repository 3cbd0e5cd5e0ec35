import { parseSshEd25519PublicKey } from '@airlock/crypto';
import { newAgentKey } from '@airlock/testing';
import { describe, expect, it } from 'vitest';
import { decideAgentProof, type AgentProofInput } from './agent-proof.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');
const key = newAgentKey();
const CHALLENGE_ID = '7f1c2d3e-0000-4000-8000-000000000002';
const CHALLENGE = 'YWdlbnQtY2hhbGxlbmdl';

const proof = (over: Partial<AgentProofInput> = {}): AgentProofInput => ({
  now: NOW,
  fingerprint: key.fingerprint,
  challengeId: CHALLENGE_ID,
  signature: key.signAgent(CHALLENGE_ID, CHALLENGE),
  challenge: { challenge: CHALLENGE, expiresAt: new Date(NOW.getTime() + 60_000), fingerprint: key.fingerprint },
  agent: { publicKey: key.publicKey, status: 'active' },
  ...over,
});

describe('the agent routes’ proof', () => {
  it('accepts the enrolled key’s signature over its challenge, and names the key a CSR must be for', () => {
    const decided = decideAgentProof(proof());
    expect(decided.ok).toBe(true);
    expect(decided.ok && Buffer.from(decided.key).equals(Buffer.from(parseSshEd25519PublicKey(key.publicKey).blob))).toBe(true);
  });

  it('refuses an unknown or spent challenge, an expired one, and one issued for another key', () => {
    expect(decideAgentProof(proof({ challenge: null }))).toEqual({ ok: false, reason: 'unknown_or_used_challenge' });
    expect(decideAgentProof(proof({ challenge: { ...proof().challenge!, expiresAt: NOW } }))).toEqual({ ok: false, reason: 'expired_challenge' });
    expect(decideAgentProof(proof({ challenge: { ...proof().challenge!, fingerprint: newAgentKey().fingerprint } }))).toEqual({
      ok: false,
      reason: 'challenge_for_another_key',
    });
  });

  it('refuses a fingerprint of no agent and an agent that is not active', () => {
    expect(decideAgentProof(proof({ agent: null }))).toEqual({ ok: false, reason: 'unknown_fingerprint' });
    expect(decideAgentProof(proof({ agent: { publicKey: key.publicKey, status: 'revoked' } }))).toEqual({ ok: false, reason: 'agent_revoked' });
  });

  it('refuses another key’s signature, a signature over another challenge, and the enrollment proof’s message', () => {
    const other = newAgentKey();
    expect(decideAgentProof(proof({ signature: other.signAgent(CHALLENGE_ID, CHALLENGE) }))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(decideAgentProof(proof({ signature: key.signAgent(CHALLENGE_ID, 'b3RoZXI=') }))).toEqual({ ok: false, reason: 'bad_signature' });
    // Domain separation: an enrollment's `{id}\n{challenge}` signature is no agent proof.
    expect(decideAgentProof(proof({ signature: key.sign(CHALLENGE_ID, CHALLENGE) }))).toEqual({ ok: false, reason: 'bad_signature' });
  });
});
