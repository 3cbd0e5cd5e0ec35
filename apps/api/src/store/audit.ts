import { auditEvents } from '@airlock/schema';
import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

export interface AuditEventInput {
  eventType: string;
  actor: string;
  siteCode?: string | null;
  enrollmentId?: string | null;
  agentId?: string | null;
  sourceIp?: string | null;
  userAgent?: string | null;
  details?: Record<string, unknown>;
  occurredAt: Date;
}

export const insertAuditEvent = async (db: Executor, e: AuditEventInput): Promise<void> => {
  await db.insert(auditEvents).values({
    eventType: e.eventType,
    actor: e.actor,
    siteCode: e.siteCode ?? null,
    enrollmentId: e.enrollmentId ?? null,
    agentId: e.agentId ?? null,
    sourceIp: e.sourceIp ?? null,
    userAgent: e.userAgent ?? null,
    details: e.details ?? {},
    occurredAt: e.occurredAt,
  });
};

export interface AuditFilter {
  eventType?: string;
  siteCode?: string;
  agentId?: string;
  beforeSeq?: number;
  limit: number;
}

export const listAuditEvents = async (db: Executor, f: AuditFilter) => {
  const where: SQL[] = [];
  if (f.eventType) where.push(eq(auditEvents.eventType, f.eventType));
  if (f.siteCode) where.push(eq(auditEvents.siteCode, f.siteCode));
  if (f.agentId) where.push(eq(auditEvents.agentId, f.agentId));
  if (f.beforeSeq !== undefined) where.push(lt(auditEvents.seq, f.beforeSeq));
  return db
    .select()
    .from(auditEvents)
    .where(and(...where))
    .orderBy(desc(auditEvents.seq))
    .limit(f.limit);
};
