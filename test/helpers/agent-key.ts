/** The agent's side of the challenge, for tests: real keys, real signatures. */
import { encodeSshEd25519PublicKey, generateAgentKeyPair, signRaw, signedMessage } from '@airlock/crypto';

export interface TestAgentKey {
  publicKey: string;
  sign(enrollmentId: string, challenge: string): string;
}

export const newAgentKey = (comment = 'test-agent'): TestAgentKey => {
  const kp = generateAgentKeyPair();
  return {
    publicKey: encodeSshEd25519PublicKey(kp.publicKey, comment),
    sign: (id, challenge) => signRaw(kp.secretKey, signedMessage(id, challenge)),
  };
};
