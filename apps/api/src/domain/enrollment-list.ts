import type { EnrollmentStatus } from '@airlock/schema';
import { badCursor, pageOf } from './paging.ts';
import { getAgentsByMachineUids } from '../store/agents.ts';
import { effectiveStatus, listEnrollments } from '../store/enrollments.ts';
import type { Deps } from './deps.ts';

/** Page size when the caller names none: the old fixed cap, now with a cursor to the rest (#8.11). */
const DEFAULT_ENROLLMENT_PAGE = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const encodeCursor = (e: { createdAt: Date; id: string }) => Buffer.from(`${e.createdAt.getTime()}.${e.id}`).toString('base64url');
const decodeCursor = (cursor: string) => {
  const m = /^(\d{1,15})\.(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m?.[1] || !m[2] || !UUID.test(m[2])) {
    throw badCursor();
  }
  return { createdAt: new Date(Number(m[1])), id: m[2] };
};

const DECIDABLE: ReadonlySet<EnrollmentStatus> = new Set(['awaiting_approval', 'pending_confirmation']);

/** #8.2: what an approval would replace ("replaces agent X, old fingerprint -> new fingerprint"). */
const replacementView = (r: { agentId: string | null; fingerprint: string } | null, rekeySigned: boolean) => ({
  replaces_agent_id: r?.agentId ?? null,
  replaces_fingerprint: r?.fingerprint ?? null,
  rekey_signed: rekeySigned,
});

export const listPendingOrAll = async (
  deps: Deps,
  status: EnrollmentStatus | undefined,
  page: { limit?: number; cursor?: string } = {},
) => {
  const now = deps.clock.now();
  const limit = page.limit ?? DEFAULT_ENROLLMENT_PAGE;
  const rows = await listEnrollments(deps.db, status, now, { limit: limit + 1, after: page.cursor ? decodeCursor(page.cursor) : undefined });
  const { page: items, nextCursor } = pageOf(rows, limit, encodeCursor);
  // For enrollments still waiting, what an approval would replace is read live: the machine may have
  // gained an active agent (or that agent a new key) since the enrollment was verified.
  const waitingUids = items.filter((e) => e.machineUid && DECIDABLE.has(effectiveStatus(e, now))).flatMap((e) => (e.machineUid ? [e.machineUid] : []));
  const machineAgents = await getAgentsByMachineUids(deps.db, waitingUids);
  // Clones enrolled separately share a uid (issue 22): the agent the enrollment collided with first, else instance 0.
  const byId = new Map(machineAgents.map((a) => [a.id, a]));
  const byUid = new Map([...machineAgents].sort((a, b) => b.machineInstance - a.machineInstance).map((a) => [a.machineUid, a]));
  const replaces = (e: (typeof items)[number]) => {
    const waiting = e.machineUid && DECIDABLE.has(effectiveStatus(e, now));
    const live = waiting ? ((e.reuseAgentId ? byId.get(e.reuseAgentId) : undefined) ?? byUid.get(e.machineUid)) : undefined;
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
