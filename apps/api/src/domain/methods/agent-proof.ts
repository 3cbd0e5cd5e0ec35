/**
 * The agent routes' proof (v1.1): an enrolled agent asks for a challenge for
 * its fingerprint, then signs `airlock-agent-v1\n{challenge_id}\n{challenge}`
 * with its enrolled key to renew its credentials, with no operator involved.
 * The signature is always checked, against a key nobody holds when the
 * fingerprint is no agent's, so a stranger's answer costs what an agent's
 * does; every refusal is one answer, its cause for the audit row only.
 *
 * Pure: the spent challenge and the agent (as read) in, a decision out.
 */
import { agentSignedMessage, encodeSshEd25519PublicKey, generateAgentKeyPair, newChallenge, parseSshEd25519PublicKey, verifyAgentSignature } from '@airlock/crypto';
import type { AgentChallengeRow } from '../../store/agent-challenges.ts';
import type { AgentRow } from '../../store/agents.ts';

const NOBODY = parseSshEd25519PublicKey(encodeSshEd25519PublicKey(generateAgentKeyPair().publicKey)).blob;
const NO_CHALLENGE = newChallenge();

export interface AgentProofInput {
  now: Date;
  fingerprint: string;
  challengeId: string;
  signature: string;
  /** The challenge as consumed (null: unknown, or already used). */
  challenge: Pick<AgentChallengeRow, 'challenge' | 'expiresAt' | 'fingerprint'> | null;
  /** The newest live agent with this fingerprint, if any. */
  agent: Pick<AgentRow, 'publicKey' | 'status'> | null;
}

export type AgentProofDecision =
  /** `key`: the agent's public key blob, which a CSR in the same request must be for. */
  | { ok: true; key: Uint8Array }
  | { ok: false; reason: string };

export const decideAgentProof = (input: AgentProofInput): AgentProofDecision => {
  const { now, fingerprint, challenge, agent } = input;
  const key = agent ? parseSshEd25519PublicKey(agent.publicKey).blob : NOBODY;
  const signatureOk = verifyAgentSignature(key, agentSignedMessage(input.challengeId, challenge?.challenge ?? NO_CHALLENGE), input.signature);
  if (!challenge) return { ok: false, reason: 'unknown_or_used_challenge' };
  if (now >= challenge.expiresAt) return { ok: false, reason: 'expired_challenge' };
  if (challenge.fingerprint !== fingerprint) return { ok: false, reason: 'challenge_for_another_key' };
  if (!agent) return { ok: false, reason: 'unknown_fingerprint' };
  if (agent.status !== 'active') return { ok: false, reason: `agent_${agent.status}` };
  if (!signatureOk) return { ok: false, reason: 'bad_signature' };
  return { ok: true, key };
};
