import { auditRefusalCounts, sites } from '@airlock/schema/db';
import { and, desc, eq, gte, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';

/** One more refusal of `kind` from `sourceIp` in the minute starting at `minute`: one row per key, counted up. */
export const countRefusal = async (db: Executor, r: { sourceIp: string; kind: string; minute: Date; at: Date }): Promise<void> => {
  await db
    .insert(auditRefusalCounts)
    .values({ sourceIp: r.sourceIp, kind: r.kind, minute: r.minute, count: 1, lastAt: r.at })
    .onConflictDoUpdate({
      target: [auditRefusalCounts.sourceIp, auditRefusalCounts.kind, auditRefusalCounts.minute],
      set: { count: sql`${auditRefusalCounts.count} + 1`, lastAt: sql`greatest(${auditRefusalCounts.lastAt}, excluded.last_at)` },
    });
};

export const siteExists = async (db: Executor, code: string): Promise<boolean> =>
  (await db.select({ code: sites.code }).from(sites).where(eq(sites.code, code))).length > 0;

export interface RefusalCountFilter {
  since?: Date;
  kind?: string;
  sourceIp?: string;
  /** Keyset: rows strictly after this (minute desc, source_ip, kind) position. */
  after?: { minute: Date; sourceIp: string; kind: string };
  limit: number;
}

export const listRefusalCounts = (db: Executor, f: RefusalCountFilter) => {
  const where: SQL[] = [];
  if (f.since) where.push(gte(auditRefusalCounts.minute, f.since));
  if (f.kind) where.push(eq(auditRefusalCounts.kind, f.kind));
  if (f.sourceIp) where.push(eq(auditRefusalCounts.sourceIp, f.sourceIp));
  if (f.after) {
    const a = f.after;
    const tail = or(
      and(eq(auditRefusalCounts.minute, a.minute), sql`(${auditRefusalCounts.sourceIp}, ${auditRefusalCounts.kind}) > (${a.sourceIp}, ${a.kind})`),
      lt(auditRefusalCounts.minute, a.minute),
    );
    if (tail) where.push(tail);
  }
  return db
    .select()
    .from(auditRefusalCounts)
    .where(and(...where))
    .orderBy(desc(auditRefusalCounts.minute), auditRefusalCounts.sourceIp, auditRefusalCounts.kind)
    .limit(f.limit);
};
