/** A fingerprint of every table but the audit log, to prove a refusal changed nothing. */
import { sql } from 'drizzle-orm';
import { type TestApi } from '@airlock/api/testing';

const TABLES = ['sites', 'site_enrollment_keys', 'pairing_codes', 'enrollments', 'agents', 'agent_keys', 'operators', 'operator_tokens'];

export const snapshotState = async (t: TestApi): Promise<{ tables: Record<string, string>; auditCount: number }> => {
  const tables: Record<string, string> = {};
  for (const table of TABLES) {
    const rows = await t.api.deps.db.execute<{ h: string | null }>(
      sql.raw(`select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${table} x`),
    );
    tables[table] = rows[0]?.h ?? '';
  }
  // A refusal leaves either its own row or one more count in audit_refusal_counts (#8.1): both are one trace.
  const audit = await t.api.deps.db.execute<{ n: number }>(
    sql`select (select count(*) from audit_events)::int + (select coalesce(sum(count), 0) from audit_refusal_counts)::int as n`,
  );
  return { tables, auditCount: audit[0]?.n ?? -1 };
};

export const latestAudit = async (t: TestApi) => {
  const rows = await t.api.deps.db.execute<{ event_type: string; details: Record<string, unknown>; source_ip: string | null }>(
    sql`select event_type, details, source_ip from audit_events order by seq desc limit 1`,
  );
  return rows[0];
};
