/** Request bodies of the v1.1 agent routes: an enrolled agent proves its key (public, through the edge). */
import * as v from 'valibot';
import { KeyFingerprint, strict, Uuid } from '../formats.ts';
import { CsrInput, SignatureInput } from './enrollment.ts';

export const AgentChallengeRequest = strict({ fingerprint: KeyFingerprint });
export type AgentChallengeRequest = v.InferOutput<typeof AgentChallengeRequest>;

export const AgentCredentialsRequest = strict({
  fingerprint: KeyFingerprint,
  challenge_id: Uuid,
  signature: SignatureInput,
  csr: v.optional(CsrInput),
  rotate_agent_key: v.optional(v.boolean('must be true or false')),
});
export type AgentCredentialsRequest = v.InferOutput<typeof AgentCredentialsRequest>;
