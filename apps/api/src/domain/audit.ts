import { insertAuditEvent, listAuditEvents, type AuditEventInput } from '../store/audit.ts';
import { decodeSeqCursor as decodeCursor, encodeSeqCursor as encodeCursor, pageOf } from './paging.ts';
import type { Executor } from '../db/client.ts';
import type { Scope } from '../store/scope.ts';
import type { Client, Deps } from './deps.ts';

/**
 * Writes one audit row stamped with the client's address and the injected
 * clock, and counts the event in the metrics (so both tell the same story).
 */
export const recordAudit = (
  db: Executor,
  deps: Pick<Deps, 'clock' | 'metrics'>,
  client: Client | null,
  e: Omit<AuditEventInput, 'occurredAt' | 'sourceIp' | 'userAgent'>,
): Promise<void> => insertAuditEvent(db, auditRow(deps, client, e));

/**
 * The row recordAudit writes, for a store statement that writes it together
 * with the change it records (one round trip instead of two). Counted in the
 * metrics here, as recordAudit counts it, so the two cannot drift apart;
 * `count: false` for a row the statement may not write (the caller counts it
 * with countAudit once it knows).
 */
export const auditRow = (
  deps: Pick<Deps, 'clock' | 'metrics'>,
  client: Client | null,
  e: Omit<AuditEventInput, 'occurredAt' | 'sourceIp' | 'userAgent'>,
  count = true,
): AuditEventInput => {
  if (count) countAudit(deps, e);
  return {
    ...e,
    occurredAt: deps.clock.now(),
    sourceIp: client?.ip ?? null,
    userAgent: client?.userAgent ?? null,
    details: { ...e.details, ...(client ? { request_id: client.requestId } : {}) },
  };
};

/** Counts an audit event in the metrics (see auditRow). */
export const countAudit = (deps: Pick<Deps, 'metrics'>, e: Pick<AuditEventInput, 'eventType' | 'details'>): void =>
  deps.metrics?.observeAudit(e.eventType, e.details);


export const listAudit = async (
  deps: Deps,
  scope: Scope,
  q: { eventType?: string; siteCode?: string; agentId?: string; limit: number; cursor?: string },
) => {
  const rows = await listAuditEvents(deps.db, {
    scope,
    eventType: q.eventType,
    siteCode: q.siteCode,
    agentId: q.agentId,
    beforeSeq: q.cursor ? decodeCursor(q.cursor) : undefined,
    limit: q.limit + 1,
  });
  const { page, nextCursor } = pageOf(rows, q.limit, (last) => encodeCursor(last.seq));
  return {
    items: page.map((r) => ({
      id: r.id,
      occurred_at: r.occurredAt.toISOString(),
      event_type: r.eventType,
      actor: r.actor,
      site_code: r.siteCode,
      enrollment_id: r.enrollmentId,
      agent_id: r.agentId,
      source_ip: r.sourceIp,
      user_agent: r.userAgent,
      details: r.details,
    })),
    next_cursor: nextCursor,
  };
};
