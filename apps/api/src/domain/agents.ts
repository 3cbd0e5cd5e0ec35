/** Agents: listing, revocation, and the internal check of an agent key. */
import { isWellFormedSecret, secretDigest } from '@airlock/crypto';
import type { AgentKeyVerifyResponse, AgentStatus } from '@airlock/schema';
import { ApiError } from '../errors.ts';
import { getSite } from '../store/sites.ts';
import {
  cancelUncollectedEnrollments,
  listAgents,
  lockAgent,
  lockUncollectedEnrollments,
  revokeAgent,
  touchLiveAgentKey,
  type AgentRow,
} from '../store/agents.ts';
import { revokeAgentCertificates } from '../store/certificates.ts';
import { recordAudit } from './audit.ts';
import { tunnelFilter, tunnelView } from './tunnel-state.ts';
import type { Actor, Client, Deps } from './deps.ts';

const view = (a: AgentRow) => ({
  id: a.id,
  site_code: a.siteCode,
  hostname: a.hostname,
  fingerprint: a.fingerprint,
  machine_uid: a.machineUid,
  status: a.status,
  created_at: a.createdAt.toISOString(),
  last_seen_at: a.lastSeenAt?.toISOString() ?? null,
  revoked_at: a.revokedAt?.toISOString() ?? null,
  tunnel: tunnelView(a),
});

export const listAllAgents = async (deps: Deps, status: AgentStatus | undefined, tunnel?: 'connected' | 'disconnected') => ({
  items: (await listAgents(deps.db, status, tunnel ? tunnelFilter(tunnel) : undefined)).map(view),
});

export const revokeAgentById = async (deps: Deps, id: string, reason: string | null, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    await lockUncollectedEnrollments(tx, id);
    const agent = await lockAgent(tx, id);
    if (!agent) throw new ApiError('not_found', 'No such agent');
    if (agent.status === 'revoked') {
      throw new ApiError('invalid_state', 'The agent is already revoked', {
        audit: { eventType: 'agent.revoke_refused', siteCode: agent.siteCode, agentId: id },
      });
    }
    const now = deps.clock.now();
    const keys = await revokeAgent(tx, id, actor.name, reason, now);
    // Credentials approved but never collected die with the agent, in the same transaction (#8.5).
    const cancelled = await cancelUncollectedEnrollments(tx, id, actor.name, 'the agent was revoked before its credentials were collected', now);
    // Its certificates too, for good: a later approval of the same machine brings none back (issue 18).
    const certificates = await revokeAgentCertificates(tx, id, 'agent_revoked', now);
    const site = await getSite(tx, agent.siteCode);
    await recordAudit(tx, deps, client, {
      eventType: 'agent.revoked',
      actor: actor.name,
      siteCode: agent.siteCode,
      agentId: id,
      details: { reason, revoked_keys: keys, cancelled_enrollments: cancelled, revoked_certificates: certificates },
    });
    return {
      ...view({ ...agent, status: 'revoked', revokedAt: now, remotePort: null }),
      // Issue 18: on an auto site the machine may have leaked the site's enrollment key, which enrolls
      // new machines with no operator: the caller is told to consider rotating it.
      rotate_site_key_advised: site?.policy === 'auto',
    };
  });

/** For the management server: is this `cak_` live, and whose is it? */
export const verifyAgentKey = async (deps: Deps, agentKey: string): Promise<AgentKeyVerifyResponse> => {
  const refused = new ApiError('invalid_key', 'The agent key is not valid', {
    audit: { eventType: 'agent_key.denied', anonymous: true },
  });
  // Same work for malformed and unknown keys: digest and look up either way.
  const digest = secretDigest(agentKey);
  const agent = await touchLiveAgentKey(deps.db, digest, deps.clock.now());
  if (!agent || !isWellFormedSecret('cak', agentKey)) throw refused;
  return { agent_id: agent.id, site_code: agent.siteCode, status: agent.status };
};
