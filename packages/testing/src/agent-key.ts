/** The agent's side of the challenge, for tests: real keys, real signatures. */
import {
  agentSignedMessage,
  encodeSshEd25519PublicKey,
  generateAgentKeyPair,
  parseSshEd25519PublicKey,
  signRaw,
  signRekey,
  signedMessage,
  sshFingerprint,
} from '@airlock/crypto';

export interface TestAgentKey {
  publicKey: string;
  fingerprint: string;
  /** The raw Ed25519 secret, for a test that also needs the key as TLS or a CSR sees it. */
  secretKey: Uint8Array;
  sign(enrollmentId: string, challenge: string): string;
  /** This (current) key's re-key proof for a successor key's enrollment (#8.2). */
  signRekey(enrollmentId: string, challenge: string, newFingerprint: string): string;
  /** The v1.1 agent routes' proof: `airlock-agent-v1\n{challenge_id}\n{challenge}`. */
  signAgent(challengeId: string, challenge: string): string;
}

export const newAgentKey = (comment = 'test-agent'): TestAgentKey => {
  const kp = generateAgentKeyPair();
  const publicKey = encodeSshEd25519PublicKey(kp.publicKey, comment);
  return {
    publicKey,
    fingerprint: sshFingerprint(parseSshEd25519PublicKey(publicKey).blob),
    secretKey: kp.secretKey,
    sign: (id, challenge) => signRaw(kp.secretKey, signedMessage(id, challenge)),
    signRekey: (id, challenge, newFingerprint) => signRekey(kp.secretKey, id, challenge, newFingerprint),
    signAgent: (id, challenge) => signRaw(kp.secretKey, agentSignedMessage(id, challenge)),
  };
};
