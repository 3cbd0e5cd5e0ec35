import { auditEvents } from '@airlock/schema/db';
import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { insertAuditRows } from './rows.ts';
import { siteInScope, type Scope } from './scope.ts';

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
  // The one audit INSERT (rows.ts), also what statements that write their own audit rows embed.
  await db.execute(insertAuditRows([e]));
};

export interface AuditFilter {
  /** A scoped operator sees the rows of its tenant's sites only (rows with no site are installation-wide). */
  scope: Scope;
  eventType?: string;
  siteCode?: string;
  agentId?: string;
  beforeSeq?: number;
  limit: number;
}

export const listAuditEvents = async (db: Executor, f: AuditFilter) => {
  const where: Array<SQL | undefined> = [siteInScope(f.scope, auditEvents.siteCode)];
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
