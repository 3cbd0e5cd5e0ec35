import { agentSignedMessage, signRaw } from '@airlock/crypto';
import type { HttpClient, HttpResponse } from './http.ts';
import type { AgentKey } from './keys.ts';
import { AgentChallenge, expectShape } from './protocol.ts';

export interface ProofRequest {
  /** PEM PKCS#10 for the agent's key: a fresh certificate comes back. */
  csr?: string;
  /** A new cak_ comes back and every previous one stops verifying. */
  rotateAgentKey: boolean;
}

/**
 * The v1.1 agent routes: prove possession of the enrolled key and receive
 * fresh credentials. POST /api/v1/agent/challenge, sign
 * `airlock-agent-v1\n{challenge_id}\n{challenge}` with the key, POST
 * /api/v1/agent/credentials. Returns the final answer as it came (the caller
 * checks its shape, and must keep a rotated key even when the rest is off),
 * or the refusal of whichever step refused.
 */
export const proveKey = async (client: HttpClient, key: Pick<AgentKey, 'secretKey' | 'fingerprint'>, request: ProofRequest): Promise<HttpResponse> => {
  const challenged = await client.request('POST', '/api/v1/agent/challenge', { body: { fingerprint: key.fingerprint } });
  if (challenged.status !== 201) return challenged;
  const challenge = expectShape(AgentChallenge, challenged, 'the agent challenge');
  const signature = signRaw(key.secretKey, agentSignedMessage(challenge.challenge_id, challenge.challenge));
  return client.request('POST', '/api/v1/agent/credentials', {
    body: {
      fingerprint: key.fingerprint,
      challenge_id: challenge.challenge_id,
      signature,
      ...(request.csr !== undefined ? { csr: request.csr } : {}),
      ...(request.rotateAgentKey ? { rotate_agent_key: true } : {}),
    },
  });
};
