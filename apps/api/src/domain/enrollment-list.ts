import type { EnrollmentStatus } from '@airlock/schema';
import { pageOf, timeIdCursor } from './paging.ts';
import { machineAgents, machineKey } from '../store/agents.ts';
import { effectiveStatus, listEnrollments } from '../store/enrollments.ts';
import type { Scope } from '../store/scope.ts';
import type { Deps } from './deps.ts';

/** Page size when the caller names none (contract v1.2: 100; at most 500). */
const DEFAULT_ENROLLMENT_PAGE = 100;

const DECIDABLE: ReadonlySet<EnrollmentStatus> = new Set(['awaiting_approval', 'pending_confirmation']);

/** #8.2: what an approval would replace ("replaces agent X, old fingerprint -> new fingerprint"). */
const replacementView = (r: { agentId: string | null; fingerprint: string } | null, rekeySigned: boolean) => ({
  replaces_agent_id: r?.agentId ?? null,
  replaces_fingerprint: r?.fingerprint ?? null,
  rekey_signed: rekeySigned,
});

export const listPendingOrAll = async (
  deps: Deps,
  scope: Scope,
  q: { status?: EnrollmentStatus; siteCode?: string; tenantCode?: string; limit?: number; cursor?: string } = {},
) => {
  const now = deps.clock.now();
  const limit = q.limit ?? DEFAULT_ENROLLMENT_PAGE;
  const rows = await listEnrollments(
    deps.db,
    scope,
    { status: q.status, siteCode: q.siteCode, tenantCode: q.tenantCode, now },
    { limit: limit + 1, after: q.cursor ? timeIdCursor.decode(q.cursor) : undefined },
  );
  const { page: items, nextCursor } = pageOf(rows, limit, timeIdCursor.encode);
  // For enrollments still waiting, what an approval would replace is read live: the machine may have
  // gained an active agent (or that agent a new key) since the enrollment was verified.
  const waiting = items.flatMap((e) => (e.machineUid && DECIDABLE.has(effectiveStatus(e, now)) ? [{ siteCode: e.siteCode, machineUid: e.machineUid }] : []));
  const liveAgents = await machineAgents(deps.db, waiting);
  const replaces = (e: (typeof items)[number]) => {
    const holders = e.machineUid && DECIDABLE.has(effectiveStatus(e, now)) ? (liveAgents.get(machineKey(e.siteCode, e.machineUid)) ?? []) : [];
    // Clones enrolled separately share a uid (issue 22): the agent the enrollment collided with, else instance 0.
    const live = holders.find((a) => a.id === e.reuseAgentId) ?? holders[0];
    if (live && live.siteCode === e.siteCode && live.fingerprint !== e.fingerprint) {
      return { agentId: live.id, fingerprint: live.fingerprint };
    }
    if (live) return null;
    return e.replacesFingerprint ? { agentId: e.reuseAgentId, fingerprint: e.replacesFingerprint } : null;
  };
  return {
    next_cursor: nextCursor,
    items: items.map((e) => ({
      ...replacementView(replaces(e), e.rekeySigned),
      id: e.id,
      site_code: e.siteCode,
      method: e.method,
      hostname: e.hostname,
      agent_version: e.agentVersion,
      fingerprint: e.fingerprint,
      machine_uid: e.machineUid,
      labels: e.labels,
      source_ip: e.sourceIp,
      status: effectiveStatus(e, now),
      agent_id: e.agentId,
      // The agent this enrollment would take over (same machine); for pending_confirmation, the one it collides with.
      existing_agent_id: e.reuseAgentId,
      // Issue 18: the enrollment's key is this revoked agent's; approving lets that key back in.
      revoked_key_agent_id: e.revokedKeyAgentId,
      created_at: e.createdAt.toISOString(),
      decided_by: e.decidedBy,
      decided_at: e.decidedAt?.toISOString() ?? null,
    })),
  };
};
