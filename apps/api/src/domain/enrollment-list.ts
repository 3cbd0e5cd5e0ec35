import type { EnrollmentStatus } from '@airlock/schema';
import { effectiveStatus, listEnrollments } from '../store/enrollments.ts';
import type { Deps } from './deps.ts';

export const listPendingOrAll = async (deps: Deps, status: EnrollmentStatus | undefined) => {
  const now = deps.clock.now();
  const rows = await listEnrollments(deps.db, status, now);
  return {
    items: rows.map((e) => ({
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
      created_at: e.createdAt.toISOString(),
      decided_by: e.decidedBy,
      decided_at: e.decidedAt?.toISOString() ?? null,
    })),
  };
};
