/**
 * Shared pieces for the store's hand-written SQL: the enrollment routes run
 * each step of their transaction as one statement (CTEs, INSERT … SELECT,
 * UPDATE … RETURNING), which drizzle's builder cannot express, so they go
 * through `db.execute(sql…)` and come back as raw rows keyed by column name.
 *
 * Raw rows are mapped with drizzle's own column mappers (the table
 * definitions in @airlock/schema stay the one source of truth), so a raw
 * `enrollments` row becomes exactly the EnrollmentRow a drizzle select
 * returns: timestamps as Date, jsonb parsed, nulls kept.
 */
import { auditEvents } from '@airlock/schema/db';
import { getTableColumns, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { AuditEventInput } from './audit.ts';

type Column = { name: string; mapFromDriverValue(value: unknown): unknown };

/**
 * Maps a raw row of `table` (columns optionally prefixed, for joins) to the
 * object drizzle's select would return. The column list is read once.
 */
export const rowMapper = <T extends PgTable>(table: T, prefix = '') => {
  const columns = Object.entries(getTableColumns(table) as Record<string, Column>).map(([key, col]) => [key, prefix + col.name, col] as const);
  return (raw: Record<string, unknown>): T['$inferSelect'] => {
    const out: Record<string, unknown> = {};
    for (const [key, name, col] of columns) {
      const value = raw[name];
      out[key] = value === null || value === undefined ? null : col.mapFromDriverValue(value);
    }
    return out as T['$inferSelect'];
  };
};

/**
 * `alias.col as "prefixcol", …` for every column of `table`: a joined table's
 * columns under a prefix, so they cannot collide with the main table's.
 */
export const prefixedColumns = (table: PgTable, alias: string, prefix: string): SQL =>
  sql.raw(
    Object.values(getTableColumns(table) as Record<string, Column>)
      .map((c) => `${alias}.${c.name} as "${prefix}${c.name}"`)
      .join(', '),
  );

/**
 * A timestamp parameter. drizzle's postgres.js driver passes timestamps
 * through unparsed and unserialised, so a Date must go as its ISO text (what
 * drizzle's own timestamp columns send) and be cast on the server side.
 */
export const at = (d: Date | null): SQL => sql`${d === null ? null : d.toISOString()}::timestamptz`;

/** The keyset position of a list ordered newest first by (created_at, id). */
export interface TimeId {
  createdAt: Date;
  id: string;
}

/**
 * Keyset paging, newest first: rows strictly before `after` in (created_at, id)
 * order, as one row comparison that an index on (…, created_at, id) answers.
 */
export const before = (createdAt: AnyColumn, id: AnyColumn, after: TimeId | undefined): SQL | undefined =>
  after ? sql`(${createdAt}, ${id}) < (${at(after.createdAt)}, ${uuid(after.id)})` : undefined;

/** A jsonb parameter: JSON text, cast on the server side. */
export const json = (v: unknown): SQL => sql`${JSON.stringify(v)}::jsonb`;

/** A uuid parameter or null. */
export const uuid = (v: string | null): SQL => sql`${v}::uuid`;

/**
 * One audit row as a VALUES tuple, in AUDIT_COLUMNS order. The caller builds
 * the row (domain/audit.ts auditRow) so every row carries exactly what
 * recordAudit writes: clock, client address and agent, request id.
 */
const auditTuple = (e: AuditRowSql): SQL =>
  sql`(${at(e.occurredAt)}, ${e.eventType}, ${e.actor}, ${e.siteCode ?? null}, ${uuid(e.enrollmentId ?? null)}, ${
    e.agentIdExpr ?? uuid(e.agentId ?? null)
  }, ${e.sourceIp ?? null}, ${e.userAgent ?? null}, ${
    e.detailsExpr ? sql`${json(e.details ?? {})} || ${e.detailsExpr}` : json(e.details ?? {})
  })`;

/**
 * An audit row for a statement that writes it: `agentIdExpr` for an agent id
 * the statement itself produces (a CTE's row), `detailsExpr` (a jsonb
 * expression) for details it computes, merged over `details`.
 */
export type AuditRowSql = AuditEventInput & { agentIdExpr?: SQL; detailsExpr?: SQL };

const AUDIT_COLUMNS = sql.raw(
  [
    auditEvents.occurredAt,
    auditEvents.eventType,
    auditEvents.actor,
    auditEvents.siteCode,
    auditEvents.enrollmentId,
    auditEvents.agentId,
    auditEvents.sourceIp,
    auditEvents.userAgent,
    auditEvents.details,
  ]
    .map((c) => c.name)
    .join(', '),
);

/**
 * INSERT of audit rows in the given order, as a statement or a CTE body.
 * One multi-row VALUES: the rows take their `seq` in list order, as the
 * separate inserts they replace did. `when` (a boolean SQL expression) writes
 * them only if it holds, e.g. only when the CTE they describe produced a row.
 */
export const insertAuditRows = (rows: ReadonlyArray<AuditRowSql>, when?: SQL): SQL => {
  const values = sql.join(rows.map(auditTuple), sql`, `);
  return when
    ? sql`insert into audit_events (${AUDIT_COLUMNS}) select * from (values ${values}) v where ${when}`
    : sql`insert into audit_events (${AUDIT_COLUMNS}) values ${values}`;
};
