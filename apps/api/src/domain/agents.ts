/** Agents: the paged list, labels, revocation, and the internal check of an agent key. */
import { isWellFormedSecret, secretDigest } from '@airlock/crypto';
import type { AgentKeyVerifyResponse, AgentStatus } from '@airlock/schema';
import { ApiError } from '../errors.ts';
import { EVERY_TENANT, type Scope } from '../store/scope.ts';
import { getSite } from '../store/sites.ts';
import {
  cancelUncollectedEnrollments,
  listAgents,
  lockAgent,
  lockUncollectedEnrollments,
  revokeAgent,
  setAgentLabels,
  touchLiveAgentKey,
  type AgentFilter,
  type AgentRow,
} from '../store/agents.ts';
import { revokeAgentCertificates } from '../store/certificates.ts';
import { recordAudit } from './audit.ts';
import { tunnelFilter, tunnelView } from './tunnel-state.ts';
import type { Actor, Client, Deps } from './deps.ts';
import { pageOf, timeIdCursor } from './paging.ts';

/** The agent record of the wire (contract v1.2). The tunnel object joins here, from one function of its own. */
export const agentView = (a: AgentRow) => ({
  id: a.id,
  site_code: a.siteCode,
  hostname: a.hostname,
  fingerprint: a.fingerprint,
  machine_uid: a.machineUid,
  status: a.status,
  created_at: a.createdAt.toISOString(),
  last_seen_at: a.lastSeenAt?.toISOString() ?? null,
  revoked_at: a.revokedAt?.toISOString() ?? null,
  labels: a.labels,
  tenant_code: a.tenantCode,
  approved_by: a.approvedBy,
  approved_at: a.approvedAt?.toISOString() ?? null,
  tunnel: tunnelView(a),
});

/** The list's query as the wire has it. */
export interface AgentListRequest {
  status?: AgentStatus;
  siteCode?: string;
  tenantCode?: string;
  /** `key:value`, all must match. */
  labels?: readonly string[];
  q?: string;
  tunnel?: 'connected' | 'disconnected';
  limit?: number;
  cursor?: string;
}

/**
 * The wire's filters as store conditions, in one place; the tunnel filter
 * (`tunnel=connected|disconnected`) is its own module's SQL fragment.
 */
const agentFilter = (q: AgentListRequest): AgentFilter => ({
  status: q.status,
  siteCode: q.siteCode,
  tenantCode: q.tenantCode,
  labels: q.labels?.map((l) => {
    const at = l.indexOf(':');
    return [l.slice(0, at), l.slice(at + 1)] as const;
  }),
  q: q.q,
  extra: [q.tunnel ? tunnelFilter(q.tunnel) : undefined],
});

/** One page of the agents this operator may see, newest first (never more than `limit` rows read, plus one). */
export const listFleetAgents = async (deps: Deps, scope: Scope, q: AgentListRequest = {}) => {
  const limit = q.limit ?? 100;
  const rows = await listAgents(deps.db, scope, agentFilter(q), { limit: limit + 1, after: q.cursor ? timeIdCursor.decode(q.cursor) : undefined });
  const { page, nextCursor } = pageOf(rows, limit, timeIdCursor.encode);
  return { items: page.map(agentView), next_cursor: nextCursor };
};

/** PATCH an agent's labels: replaced whole, audited with before and after. */
export const changeAgentLabels = async (deps: Deps, id: string, labels: Record<string, string>, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const before = await lockAgent(tx, id, actor);
    const agent = before && (await setAgentLabels(tx, id, labels, actor));
    if (!before || !agent) throw new ApiError('not_found', 'No such agent');
    await recordAudit(tx, deps, client, {
      eventType: 'agent.labels_changed',
      actor: actor.name,
      siteCode: agent.siteCode,
      agentId: id,
      details: { from: before.labels, to: agent.labels },
    });
    return agentView(agent);
  });

export const revokeAgentById = async (deps: Deps, id: string, reason: string | null, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    await lockUncollectedEnrollments(tx, id);
    const agent = await lockAgent(tx, id, actor);
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
    const site = await getSite(tx, agent.siteCode, EVERY_TENANT);
    await recordAudit(tx, deps, client, {
      eventType: 'agent.revoked',
      actor: actor.name,
      siteCode: agent.siteCode,
      agentId: id,
      details: { reason, revoked_keys: keys, cancelled_enrollments: cancelled, revoked_certificates: certificates },
    });
    return {
      ...agentView({ ...agent, status: 'revoked', revokedAt: now, remotePort: null }),
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
