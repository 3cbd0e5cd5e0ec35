/**
 * The agent routes: an enrolled agent proves it still holds its enrolled key
 * (challenge, then signed answer) and gets fresh credentials: a certificate
 * for that key, and on request a new `cak_` (rotation, and the way back after
 * a lost status answer). No operator is involved.
 */
import { randomUUID } from 'node:crypto';
import { checkAgentCsr, newChallenge } from '@airlock/crypto';
import type { AgentChallengeRequest, AgentChallengeResponse, AgentCredentialsRequest, AgentCredentialsResponse } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import { consumeAgentChallenge, findAgentByFingerprint, insertAgentChallenge, purgeExpiredChallenges } from '../store/agent-challenges.ts';
import { lockAgent, markAgentSeen, type AgentRow } from '../store/agents.ts';
import { recordAudit } from './audit.ts';
import { issueCredentials } from './credentials.ts';
import type { Client, Deps } from './deps.ts';
import { decideAgentProof } from './methods/agent-proof.ts';
import { EVERY_TENANT } from '../store/scope.ts';

/** The contract's challenge lifetime. */
const AGENT_CHALLENGE_TTL_SECONDS = 60;
/** Spent and expired challenges are kept an hour for forensics, then purged in small batches. */
const CHALLENGE_RETENTION_SECONDS = 3600;
const DENIED_MESSAGE = 'Agent denied: the proof of the enrolled key was not accepted';

/**
 * Issues a challenge for any well-formed fingerprint. The agents table is not
 * read at all: the answer, its shape and its cost (one insert, one bounded
 * purge) cannot depend on whether the fingerprint belongs to an agent. The
 * row is bounded by the edge's per-IP throttle and purged after an hour.
 */
export const issueAgentChallenge = async (deps: Deps, body: AgentChallengeRequest, client: Client): Promise<AgentChallengeResponse> => {
  const now = deps.clock.now();
  const id = randomUUID();
  const challenge = newChallenge();
  const expiresAt = addSeconds(now, AGENT_CHALLENGE_TTL_SECONDS);
  await insertAgentChallenge(deps.db, { id, fingerprint: body.fingerprint, challenge, expiresAt, sourceIp: client.ip, createdAt: now });
  await purgeExpiredChallenges(deps.db, addSeconds(now, -CHALLENGE_RETENTION_SECONDS));
  return { challenge_id: id, challenge, expires_at: expiresAt.toISOString() };
};

/** One body for every cause; the cause goes to the audit row only. */
const denied = (reason: string, fingerprint: string, agent: AgentRow | null) =>
  new ApiError('agent_denied', DENIED_MESSAGE, {
    audit: {
      eventType: 'agent.denied',
      siteCode: agent?.siteCode ?? null,
      agentId: agent?.id ?? null,
      // A fingerprint of no agent concerns nothing real: counted, not a row each (#8.1).
      anonymous: agent === null,
      details: { reason, fingerprint },
    },
  });

export const renewAgentCredentials = async (deps: Deps, body: AgentCredentialsRequest, client: Client): Promise<AgentCredentialsResponse> => {
  const now = deps.clock.now();
  // Spent first, whatever follows: a challenge answers once, right or wrong.
  const challenge = await consumeAgentChallenge(deps.db, body.challenge_id, now);
  // A key enrolled twice (no machine_uid) names several agents; both are held by whoever holds
  // the key, so nothing crosses a boundary by answering for the newest live one.
  const agent = await findAgentByFingerprint(deps.db, body.fingerprint);
  const proof = decideAgentProof({ now, fingerprint: body.fingerprint, challengeId: body.challenge_id, signature: body.signature, challenge, agent });
  if (!proof.ok || !agent) throw denied(proof.ok ? 'unknown_fingerprint' : proof.reason, body.fingerprint, agent);
  const key = proof.key;

  // Only a proven agent gets its request judged: a stranger learns nothing from a 400.
  if (body.csr !== undefined) {
    const problem = await checkAgentCsr(body.csr, key, agent.hostname);
    if (problem) {
      throw new ApiError('invalid_request', 'Invalid request', {
        fields: { csr: problem },
        audit: { eventType: 'agent.csr_invalid', siteCode: agent.siteCode, agentId: agent.id, details: { fields: ['csr'], problem } },
      });
    }
  }

  const rotate = body.rotate_agent_key === true;
  return deps.db.transaction(async (tx) => {
    // The row lock orders concurrent renewals and a concurrent revocation:
    // each renewal sees the agent as the previous one left it.
    const locked = await lockAgent(tx, agent.id, EVERY_TENANT);
    if (!locked || locked.status !== 'active' || locked.fingerprint !== body.fingerprint) {
      throw denied('agent_changed', body.fingerprint, agent);
    }
    const { credentials, revokedKeys } = await issueCredentials(
      deps,
      tx,
      { agentId: locked.id, siteCode: locked.siteCode, hostname: locked.hostname, publicKey: locked.publicKey, enrollmentId: null },
      { mintAgentKey: rotate, withCertificate: body.csr !== undefined, client, actor: 'agent' },
    );
    await markAgentSeen(tx, locked.id, now);
    if (rotate) {
      await recordAudit(tx, deps, client, {
        eventType: 'agent.key_rotated',
        actor: 'agent',
        siteCode: locked.siteCode,
        agentId: locked.id,
        details: { revoked_keys: revokedKeys },
      });
    }
    await recordAudit(tx, deps, client, {
      eventType: 'agent.credentials_renewed',
      actor: 'agent',
      siteCode: locked.siteCode,
      agentId: locked.id,
      details: { rotated_agent_key: rotate, certificate: body.csr !== undefined, challenge_id: body.challenge_id },
    });
    return { agent_id: locked.id, site_code: locked.siteCode, credentials };
  });
};
