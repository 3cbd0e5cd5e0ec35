import { type EnrollmentStatus } from '@airlock/schema';
import { agents, enrollments } from '@airlock/schema/db';
import { and, desc, eq, gt, inArray, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { siteInScope, type Scope } from './scope.ts';
import { agentKeyInsert, agentKeysRevocation, agentUpsert, tenantOfSite, type AgentRow } from './agents.ts';
import type { AuditEventInput } from './audit.ts';
import { at, before, insertAuditRows, json, prefixedColumns, rowMapper, uuid, type TimeId } from './rows.ts';
import { consumeSiteKeyUse, siteKeyAlertRows } from './site-key-use.ts';

export type EnrollmentRow = typeof enrollments.$inferSelect;

/** Reads and row-locks an enrollment: every state change starts here. */
export const lockEnrollment = async (db: Executor, id: string, scope: Scope): Promise<EnrollmentRow | null> =>
  (await db.select().from(enrollments).where(and(eq(enrollments.id, id), siteInScope(scope, enrollments.siteCode))).for('update'))[0] ?? null;

export const updateEnrollment = async (
  db: Executor,
  id: string,
  patch: Partial<typeof enrollments.$inferInsert>,
): Promise<void> => {
  await db.update(enrollments).set(patch).where(eq(enrollments.id, id));
};

const WAITING: EnrollmentStatus[] = ['awaiting_approval', 'pending_confirmation'];
const pastDeadline = (now: Date) => and(inArray(enrollments.status, WAITING), lte(enrollments.approvalExpiresAt, now));

/**
 * Lists by effective status: an enrollment still marked waiting whose
 * decision deadline has passed is expired (it is marked so when next touched),
 * so operators never see it as pending.
 */
export const listEnrollments = (
  db: Executor,
  scope: Scope,
  f: { status?: EnrollmentStatus; siteCode?: string; tenantCode?: string; now: Date },
  page: { limit: number; after?: TimeId },
) => {
  const { status, now } = f;
  let where: SQL | undefined;
  if (status === 'expired') where = or(eq(enrollments.status, 'expired'), pastDeadline(now));
  else if (status && WAITING.includes(status)) {
    where = and(eq(enrollments.status, status), or(isNull(enrollments.approvalExpiresAt), gt(enrollments.approvalExpiresAt, now)));
  } else if (status) where = eq(enrollments.status, status);
  // Keyset paging, newest first: (created_at, id) strictly before the cursor's row.
  const after = before(enrollments.createdAt, enrollments.id, page.after);
  return db
    .select()
    .from(enrollments)
    .where(
      and(
        siteInScope(scope, enrollments.siteCode),
        f.siteCode ? eq(enrollments.siteCode, f.siteCode) : undefined,
        f.tenantCode ? siteInScope({ tenantCode: f.tenantCode }, enrollments.siteCode) : undefined,
        where,
        after,
      ),
    )
    .orderBy(desc(enrollments.createdAt), desc(enrollments.id))
    .limit(page.limit);
};

export const effectiveStatus = (e: EnrollmentRow, now: Date): EnrollmentStatus =>
  WAITING.includes(e.status) && e.approvalExpiresAt && e.approvalExpiresAt <= now ? 'expired' : e.status;

const toEnrollment = rowMapper(enrollments);
const toAgent = rowMapper(agents, 'a__');

/**
 * How an enroll presents its right to enroll: a site key's digest or a
 * pairing code's, and (issue 22) the address it came from, checked against
 * the site's allowed_cidrs by the same statement (null: not an IP address,
 * which no allowlist contains).
 */
export type EnrollCredential = { kind: 'enrollment_key' | 'pairing_code'; digest: string; source: string | null };

export type CreateEnrollmentResult =
  /** `alerts`: a site key's use alert rows this statement wrote (site-key-use.ts). */
  | { outcome: 'created'; autoApprove: boolean; alerts: { usesHigh: boolean; burst: boolean } }
  /**
   * No such usable key or code at this site (unknown, used up, expired, revoked, wrong site, lost a race),
   * or (`sourceRefused`) the site's allowlist does not hold the source: refused alike, nothing consumed.
   */
  | { outcome: 'denied'; sourceRefused: boolean }
  /** The credential is good but the machine is an active agent of another site: nothing was consumed. */
  | { outcome: 'foreign_machine'; agentId: string; otherSiteCode: string };

/**
 * The whole enroll as one statement, so one round trip and no BEGIN/COMMIT
 * (a single statement is its own transaction): consume one use of the site
 * key, or the pairing code, then insert the enrollment and its audit row from
 * the consumed credential's row. The consuming UPDATE carries every condition
 * itself, so of concurrent uses of the last allowed use (or of one pairing
 * code) exactly one finds the row, as before: Postgres re-checks the WHERE on
 * the row it waited for. A machine that is an active agent of another site
 * consumes nothing (the transaction used to roll back instead). `valid` is
 * read only to tell that case from a denial.
 */
export const createEnrollment = async (
  db: Executor,
  c: EnrollCredential,
  row: Omit<typeof enrollments.$inferInsert, 'pairingCodeId' | 'enrollmentKeyId' | 'autoApprove' | 'createdAt' | 'updatedAt'> & { createdAt: Date },
  audit: AuditEventInput,
  /** Site keys only: the alert rows (written when their flag is set) and the burst threshold (null: off). */
  keyAlerts: { usesHigh: AuditEventInput; burst: AuditEventInput; burstUses: number | null } | null = null,
): Promise<CreateEnrollmentResult> => {
  const now = at(row.createdAt);
  // The source allowlist is one more condition of a usable credential: a refused source consumes
  // nothing and does the same work as any other denial (one statement finding no row).
  const sourceAllowed = (site: SQL) =>
    sql`(cardinality(s.allowed_cidrs) = 0 or coalesce(${c.source}::inet <<= any(s.allowed_cidrs::inet[]), false)) and s.code = ${site}`;
  const fromAllowedSource = sql`exists (select 1 from sites s where ${sourceAllowed(sql`k.site_code`)})`;
  const usable0 =
    c.kind === 'enrollment_key'
      ? sql`k.digest = ${c.digest} and k.site_code = ${row.siteCode} and k.revoked_at is null
            and (k.expires_at is null or k.expires_at > ${now}) and (k.max_uses is null or k.use_count < k.max_uses)`
      : sql`k.digest = ${c.digest} and k.site_code = ${row.siteCode} and k.used_at is null and k.revoked_at is null and k.expires_at > ${now}`;
  const usable = sql`${usable0} and ${fromAllowedSource}`;
  const consume =
    c.kind === 'enrollment_key'
      ? consumeSiteKeyUse(usable, row.createdAt, keyAlerts?.burstUses ?? null)
      : sql`update pairing_codes k set used_at = ${now}, used_by_enrollment = ${uuid(row.id ?? null)}
            where ${usable} and not exists (select 1 from foreign_agent)
            returning k.id, k.auto_approve, false as uses_high, false as use_burst`;
  const alertRows = c.kind === 'enrollment_key' && keyAlerts ? siteKeyAlertRows(keyAlerts) : null;
  const table = c.kind === 'enrollment_key' ? sql`site_enrollment_keys` : sql`pairing_codes`;
  const rows = await db.execute(sql`
    with foreign_agent as (
      select id, site_code from agents
      where tenant_code = ${tenantOfSite(row.siteCode)} and machine_uid = ${row.machineUid ?? null} and site_code <> ${row.siteCode} and status <> 'revoked'
      order by machine_instance limit 1
    ),
    valid as (select k.id from ${table} k where ${usable}),
    used as (${consume}),
    created as (
      insert into enrollments (id, site_code, method, pairing_code_id, enrollment_key_id, auto_approve, public_key, fingerprint,
        hostname, agent_version, machine_uid, labels, source_ip, user_agent, challenge, challenge_expires_at, csr, status,
        poll_interval, created_at, updated_at)
      select ${uuid(row.id ?? null)}, ${row.siteCode}, ${row.method},
        ${c.kind === 'pairing_code' ? sql`used.id` : sql`null::uuid`}, ${c.kind === 'enrollment_key' ? sql`used.id` : sql`null::uuid`},
        used.auto_approve, ${row.publicKey}, ${row.fingerprint}, ${row.hostname}, ${row.agentVersion ?? null}, ${row.machineUid ?? null},
        ${json(row.labels ?? {})}, ${row.sourceIp}, ${row.userAgent ?? null}, ${row.challenge}, ${at(row.challengeExpiresAt)}, ${row.csr ?? null},
        ${row.status}, ${row.pollInterval}::int, ${now}, ${now}
      from used
      returning auto_approve
    ),
    audit as (${insertAuditRows([audit], sql`exists (select 1 from created)`)})
    ${alertRows ? sql`, uses_high_audit as (${alertRows.usesHigh}), burst_audit as (${alertRows.burst})` : sql``}
    select exists (select 1 from valid) as valid,
      (select auto_approve from created) as auto_approve,
      coalesce((select uses_high from used), false) as uses_high,
      coalesce((select use_burst from used), false) as use_burst,
      (select id from foreign_agent) as foreign_agent_id,
      (select site_code from foreign_agent) as foreign_site_code,
      exists (select 1 from sites s where s.code = ${row.siteCode}) and not exists (select 1 from sites s where ${sourceAllowed(sql`${row.siteCode}`)}) as source_refused`);
  const r = rows[0] as {
    valid: boolean;
    auto_approve: boolean | null;
    uses_high: boolean;
    use_burst: boolean;
    foreign_agent_id: string | null;
    foreign_site_code: string | null;
    source_refused: boolean;
  };
  if (r.auto_approve !== null) return { outcome: 'created', autoApprove: r.auto_approve, alerts: { usesHigh: r.uses_high, burst: r.use_burst } };
  if (r.valid && r.foreign_agent_id !== null && r.foreign_site_code !== null) {
    return { outcome: 'foreign_machine', agentId: r.foreign_agent_id, otherSiteCode: r.foreign_site_code };
  }
  return { outcome: 'denied', sourceRefused: r.source_refused };
};

/**
 * Reads and row-locks an enrollment for verify, with the agent that holds its
 * machine_uid (if any) in the same round trip. Only the enrollment is locked,
 * as before; the agent row is read as the separate select read it.
 * `revokedKeyAgentId` (issue 18): the most recently revoked agent whose key is
 * this enrollment's, when no active agent holds that key. Read on every
 * verify (one indexed lookup by fingerprint), whatever the outcome.
 */
export const lockEnrollmentWithMachineAgent = async (
  db: Executor,
  id: string,
): Promise<{ e: EnrollmentRow; machineAgent: AgentRow | null; revokedKeyAgentId: string | null } | null> => {
  const rows = await db.execute(sql`
    select e.*, ${prefixedColumns(agents, 'a', 'a__')},
      (select r.id from agents r
        where r.fingerprint = e.fingerprint and r.status = 'revoked'
          and not exists (select 1 from agents x where x.fingerprint = e.fingerprint and x.status = 'active')
        order by r.revoked_at desc nulls last limit 1) as revoked_key_agent_id
    from enrollments e
    -- Issue 22: clones an operator enrolled separately share the uid; the one this
    -- enrollment is about is the one with its key, else the live one seen last.
    left join lateral (
      select * from agents m where m.machine_uid = e.machine_uid
        and m.tenant_code = (select s.tenant_code from sites s where s.code = e.site_code)
      order by (m.fingerprint = e.fingerprint) desc, (m.status = 'active') desc, m.last_seen_at desc nulls last, m.machine_instance
      limit 1
    ) a on true
    where e.id = ${uuid(id)}
    for update of e`);
  const raw = rows[0];
  if (!raw) return null;
  return {
    e: toEnrollment(raw),
    machineAgent: raw['a__id'] === null ? null : toAgent(raw),
    revokedKeyAgentId: (raw['revoked_key_agent_id'] as string | null) ?? null,
  };
};

/**
 * Reads and row-locks an enrollment by poll token and, when it is approved
 * and its credentials not yet collected, row-locks its agent too: enrollment
 * first, agent second (the CTE produces the locked enrollment before the
 * subquery runs), the order revocation takes, so the two cannot deadlock.
 * The agent's lock orders the collection against a concurrent renewal on the
 * agent routes; the statements that follow see everything committed before.
 * The subquery reads with the statement's snapshot: when the enrollment lock
 * had to be waited for (an approval committing meanwhile), the agent that
 * approval created is invisible here and `lockedAgentId` is null; the caller
 * then locks the agent in a statement of its own.
 */
export const lockEnrollmentForStatus = async (
  db: Executor,
  pollTokenDigest: string,
): Promise<{ e: EnrollmentRow; lockedAgentId: string | null } | null> => {
  const rows = await db.execute(sql`
    with e as (select * from enrollments where poll_token_digest = ${pollTokenDigest} for update)
    select e.*,
      (select a.id from agents a where a.id = e.agent_id and e.status = 'approved' and e.credentials_issued_at is null for update) as locked_agent_id
    from e`);
  const raw = rows[0];
  if (!raw) return null;
  return { e: toEnrollment(raw), lockedAgentId: (raw['locked_agent_id'] as string | null) ?? null };
};

/** An enrollment's changed columns and the audit rows that record the change, in one statement. */
export const updateEnrollmentAudited = async (
  db: Executor,
  id: string,
  patch: Partial<typeof enrollments.$inferInsert>,
  audit: readonly AuditEventInput[],
): Promise<void> => {
  if (audit.length === 0) return updateEnrollment(db, id, patch);
  const update = db.update(enrollments).set(patch).where(eq(enrollments.id, id)).getSQL();
  await db.execute(sql`with changed as (${update}) ${insertAuditRows(audit)}`);
};

/**
 * A verified enrollment that its site policy approves, in one statement: the
 * agent is created (or, for a known machine_uid of the same site, its row is
 * taken over: one upsert, so concurrent first enrollments of one machine
 * converge on one row), the enrollment takes its verified and approved state
 * at once, and both audit rows are written in order; certificates of a
 * replaced key are revoked (with their own audit row when there were any).
 * Null when the machine's row belongs to another site; the caller then rolls
 * the transaction back.
 */
export const approveVerifiedEnrollment = async (
  db: Executor,
  e: Pick<EnrollmentRow, 'id' | 'siteCode' | 'publicKey' | 'fingerprint' | 'hostname' | 'machineUid' | 'labels'> & { machineInstance: number },
  createdBy: string,
  now: Date,
  patch: Partial<typeof enrollments.$inferInsert>,
  audit: { verified: AuditEventInput; approved: AuditEventInput; certificatesRevoked: AuditEventInput },
): Promise<{ agentId: string; revokedCertificates: number } | null> => {
  const update = db
    .update(enrollments)
    .set({ ...patch, agentId: sql`(select id from agent)` })
    .where(eq(enrollments.id, e.id))
    .getSQL();
  const upsert = agentUpsert(db, { ...e, enrollmentId: e.id, createdBy, now }).getSQL();
  // A signed re-key under auto: the old key's certificates die in this statement too (issue 18),
  // as revokeAgentCertificates does on the operator's path (decisions.ts).
  const rows = await db.execute(sql`
    with agent as (${upsert}),
    changed as (${update}),
    certs as (
      update issued_certificates set revoked_at = ${at(now)}, revoke_reason = 'key_replaced'
      where agent_id = (select id from agent) and revoked_at is null and key_fingerprint is distinct from (select fingerprint from agent)
      returning serial
    ),
    audit as (${insertAuditRows([audit.verified, { ...audit.approved, agentIdExpr: sql`(select id from agent)` }])}),
    certs_audit as (${insertAuditRows(
      [
        {
          ...audit.certificatesRevoked,
          agentIdExpr: sql`(select id from agent)`,
          detailsExpr: sql`jsonb_build_object('revoked_certificates', (select count(*)::int from certs))`,
        },
      ],
      sql`exists (select 1 from certs)`,
    )})
    select (select id from agent) as agent_id, (select count(*)::int from certs) as revoked_certificates`);
  const agentId = (rows[0]?.['agent_id'] as string | null | undefined) ?? null;
  return agentId === null ? null : { agentId, revokedCertificates: Number(rows[0]?.['revoked_certificates'] ?? 0) };
};

/**
 * The agent collects its credentials, in one statement: every earlier key of
 * the agent is revoked and the new one inserted (the UPDATE cannot see the
 * row the INSERT adds, so exactly the new key stays live), the enrollment is
 * marked collected, and the audit rows are written in order, `reuse` (when
 * given) carrying the number of keys revoked. The caller holds the
 * enrollment's and the agent's row locks. Returns that number.
 */
export const collectAgentKey = async (
  db: Executor,
  k: { enrollmentId: string; agentId: string; digest: string; start: string; now: Date },
  audit: { reuse: AuditEventInput | null; issued: AuditEventInput },
): Promise<number> => {
  const now = at(k.now);
  const revoke = agentKeysRevocation(db, k.agentId, k.now).getSQL();
  const mint = agentKeyInsert(db, { agentId: k.agentId, digest: k.digest, start: k.start, createdAt: k.now }).getSQL();
  const rows = await db.execute(sql`
    with revoked as (${revoke}),
    minted as (${mint}),
    changed as (
      update enrollments set last_poll_at = ${now}, credentials_issued_at = ${now}, updated_at = ${now} where id = ${uuid(k.enrollmentId)}
    ),
    audit as (${insertAuditRows([
      ...(audit.reuse ? [{ ...audit.reuse, detailsExpr: sql`jsonb_build_object('revoked_keys', (select count(*)::int from revoked))` }] : []),
      audit.issued,
    ])})
    select (select count(*)::int from revoked) as revoked`);
  return Number(rows[0]?.['revoked'] ?? 0);
};
