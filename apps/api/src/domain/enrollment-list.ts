import type { EnrollmentStatus } from '@airlock/schema';
import { listEnrollments } from '../store/enrollments.ts';
import type { Deps } from './deps.ts';

export const listPendingOrAll = async (deps: Deps, status: EnrollmentStatus | undefined) => ({
  items: (await listEnrollments(deps.db, status)).map((e) => ({
    id: e.id,
    site_code: e.siteCode,
    method: e.method,
    hostname: e.hostname,
    agent_version: e.agentVersion,
    fingerprint: e.fingerprint,
    machine_uid: e.machineUid,
    labels: e.labels,
    source_ip: e.sourceIp,
    status: e.status,
    agent_id: e.agentId,
    created_at: e.createdAt.toISOString(),
    decided_by: e.decidedBy,
    decided_at: e.decidedAt?.toISOString() ?? null,
  })),
});
