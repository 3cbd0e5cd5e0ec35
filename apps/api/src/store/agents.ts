import { type AgentStatus } from '@airlock/schema';
import { agentKeys, agents, enrollments, sites } from '@airlock/schema/db';
import { and, desc, eq, inArray, isNull, ne, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.ts';
import { before, json, rowMapper, type TimeId } from './rows.ts';
import { tenantInScope, type Scope } from './scope.ts';

export type AgentRow = typeof agents.$inferSelect;

export const lockAgent = async (db: Executor, id: string, scope: Scope): Promise<AgentRow | null> =>
  (await db.select().from(agents).where(and(eq(agents.id, id), tenantInScope(scope, agents.tenantCode))).for('update'))[0] ?? null;

/** Replaces an agent's labels (in scope); null when there is no such agent for this operator. */
export const setAgentLabels = async (db: Executor, id: string, labels: Record<string, string>, scope: Scope): Promise<AgentRow | null> =>
  (await db.update(agents).set({ labels }).where(and(eq(agents.id, id), tenantInScope(scope, agents.tenantCode))).returning())[0] ?? null;

/** The tenant of a site, as an SQL expression (an agent's tenant is always its site's). */
export const tenantOfSite = (siteCode: string): SQL => sql`(select s.tenant_code from sites s where s.code = ${siteCode})`;

const toAgent = rowMapper(agents);
/** Every agent holding one of these machine uids in a site's tenant (clones kept separate share one, issue 22). */
export const getAgentsByMachineUids = async (db: Executor, siteCode: string, machineUids: readonly string[]): Promise<AgentRow[]> =>
  machineUids.length === 0
    ? []
    : db
        .select()
        .from(agents)
        .where(and(eq(agents.tenantCode, tenantOfSite(siteCode)), inArray(agents.machineUid, [...new Set(machineUids)])));

/** The key of machineAgents' answer. */
export const machineKey = (siteCode: string, machineUid: string) => `${siteCode}\n${machineUid}`;

/**
 * The agents holding these machines, each looked up in its site's tenant
 * (machine_uid is unique per tenant, but for clones kept separate, issue 22,
 * which are further instances of it): one indexed probe per machine, keyed by
 * machineKey(siteCode, machineUid), instance 0 first. For a page of
 * enrollments, never a scan.
 */
export const machineAgents = async (db: Executor, machines: ReadonlyArray<{ siteCode: string; machineUid: string }>): Promise<Map<string, AgentRow[]>> => {
  const found = new Map<string, AgentRow[]>();
  if (machines.length === 0) return found;
  const list = (xs: string[]) => sql`array[${sql.join(xs.map((x) => sql`${x}`), sql`, `)}]::text[]`;
  const rows = await db.execute(sql`
    select a.*, x.site as for_site from unnest(${list(machines.map((m) => m.siteCode))}, ${list(machines.map((m) => m.machineUid))}) x(site, uid)
    join sites s on s.code = x.site
    join agents a on a.tenant_code = s.tenant_code and a.machine_uid = x.uid
    order by a.machine_instance`);
  for (const r of rows) {
    const key = machineKey(String(r['for_site']), String(r['machine_uid']));
    found.set(key, [...(found.get(key) ?? []), toAgent(r)]);
  }
  return found;
};

/**
 * Frees a machine_uid held by a revoked agent of another site, so the machine
 * can enroll where an operator moved it. The old row and its history stay.
 */
export const releaseRevokedMachineUid = async (db: Executor, machineUid: string, siteCode: string) =>
  (
    await db
      .update(agents)
      .set({ machineUid: null })
      .where(
        and(eq(agents.tenantCode, tenantOfSite(siteCode)), eq(agents.machineUid, machineUid), eq(agents.status, 'revoked'), ne(agents.siteCode, siteCode)),
      )
      .returning({ id: agents.id, siteCode: agents.siteCode })
  )[0] ?? null;

export interface AgentFromEnrollment {
  siteCode: string;
  enrollmentId: string;
  publicKey: string;
  fingerprint: string;
  hostname: string;
  machineUid: string | null;
  /** The enrollment's labels, kept on the agent (issue 22). */
  labels: Record<string, string>;
  /** Which agent of the machine_uid (issue 22): 0, or the instance of the agent an approval takes over. */
  machineInstance: number;
  createdBy: string;
  now: Date;
}

/** `approved_by` on the wire: the operator's name, or `policy` when the site policy approved (decided by `system`). */
const approvedByOf = (decidedBy: string) => (decidedBy === 'system' ? 'policy' : decidedBy);

/**
 * Creates the agent, or for a known machine_uid of the same site takes over
 * its row with the new key: one statement, so concurrent first enrollments of
 * one machine converge on one row. Null when the uid belongs to another site.
 */
export const upsertAgentForEnrollment = async (db: Executor, a: AgentFromEnrollment): Promise<AgentRow | null> =>
  (await agentUpsert(db, a))[0] ?? null;

/**
 * The upsert itself, unsent: awaited by upsertAgentForEnrollment, and
 * embedded by a store statement that approves in one round trip
 * (enrollments.ts approveVerifiedEnrollment), so both take over a row alike.
 */
/** A new agent row for an approved enrollment, its tenant its site's. */
const newAgentValues = (a: Omit<AgentFromEnrollment, 'machineInstance'>) => ({
  siteCode: a.siteCode,
  enrollmentId: a.enrollmentId,
  publicKey: a.publicKey,
  fingerprint: a.fingerprint,
  hostname: a.hostname,
  machineUid: a.machineUid,
  status: 'active' as const,
  createdAt: a.now,
  createdBy: a.createdBy,
  lastSeenAt: a.now,
  tenantCode: tenantOfSite(a.siteCode),
  labels: a.labels,
  approvedBy: approvedByOf(a.createdBy),
  approvedAt: a.now,
});

export const agentUpsert = (db: Executor, a: AgentFromEnrollment) => {
  const values = { ...newAgentValues(a), machineInstance: a.machineInstance };
  if (a.machineUid === null) return db.insert(agents).values(values).returning();
  return db
    .insert(agents)
    .values(values)
    .onConflictDoUpdate({
      target: [agents.tenantCode, agents.machineUid, agents.machineInstance],
      set: {
        // The agent's labels stay (an operator may have edited them; a re-key must not undo that);
        // an agent that never had any takes the new enrollment's.
        labels: sql`case when ${agents.labels} = '{}'::jsonb then excluded.labels else ${agents.labels} end`,
        approvedBy: approvedByOf(a.createdBy),
        approvedAt: a.now,
        enrollmentId: a.enrollmentId,
        publicKey: a.publicKey,
        fingerprint: a.fingerprint,
        hostname: a.hostname,
        status: 'active',
        revokedAt: null,
        revokedBy: null,
        revokeReason: null,
        lastSeenAt: a.now,
      },
      setWhere: eq(agents.siteCode, a.siteCode),
    })
    .returning();
};

/**
 * Issue 22, the operator's `separate` choice: the machine enrolls as a new
 * agent beside the ones holding its machine_uid, as the next instance. The
 * transaction-scoped advisory lock on the uid makes concurrent separations of
 * one machine take turns, so each gets its own number.
 */
export const insertSeparateAgent = async (db: Executor, a: Omit<AgentFromEnrollment, 'machineInstance'> & { machineUid: string }): Promise<AgentRow> => {
  const tenant = (await db.select({ tenantCode: sites.tenantCode }).from(sites).where(eq(sites.code, a.siteCode)))[0]?.tenantCode;
  if (!tenant) throw new Error('the site of an enrollment being approved is gone');
  await db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`airlock-machine:${tenant}:${a.machineUid}`}, 0))`);
  const rows = await db
    .insert(agents)
    .values({
      ...newAgentValues(a),
      machineInstance: sql`(select coalesce(max(machine_instance), -1) + 1 from agents where tenant_code = ${tenant} and machine_uid = ${a.machineUid})`,
      tenantCode: tenant,
    })
    .returning();
  const row = rows[0];
  if (!row) throw new Error('insert returned no row');
  return row;
};

/** What the agent list filters by; every condition is one an index answers (migration 0008). */
export interface AgentFilter {
  status?: AgentStatus;
  siteCode?: string;
  tenantCode?: string;
  /** All must match: each is one `labels @> {key: value}` on the GIN index. */
  labels?: ReadonlyArray<readonly [string, string]>;
  /** A hostname prefix, or (`SHA256:…`) an exact fingerprint. */
  q?: string;
  /** Conditions other modules add (the tunnel filter): plain SQL on `agents`. */
  extra?: ReadonlyArray<SQL | undefined>;
}

/**
 * A hostname prefix as a byte-wise range on the text_pattern_ops index: the
 * index is used whatever plan the statement gets (LIKE with a parameter may
 * not be). Hostnames are ASCII, so DEL (0x7f) sorts after every one of them.
 */
const hostnamePrefix = (prefix: string): SQL => sql`${agents.hostname} ~>=~ ${prefix} and ${agents.hostname} ~<~ ${`${prefix}\x7f`}`;

/** One page of agents in scope, newest first by (created_at, id), strictly after the cursor's row. */
export const listAgents = (db: Executor, scope: Scope, f: AgentFilter, page: { limit: number; after?: TimeId }) =>
  db
    .select()
    .from(agents)
    .where(
      and(
        tenantInScope(scope, agents.tenantCode),
        f.tenantCode ? eq(agents.tenantCode, f.tenantCode) : undefined,
        f.status ? eq(agents.status, f.status) : undefined,
        f.siteCode ? eq(agents.siteCode, f.siteCode) : undefined,
        ...(f.labels ?? []).map(([k, v]) => sql`${agents.labels} @> ${json(Object.fromEntries([[k, v]]))}`),
        f.q === undefined ? undefined : f.q.startsWith('SHA256:') ? eq(agents.fingerprint, f.q) : hostnamePrefix(f.q),
        ...(f.extra ?? []),
        before(agents.createdAt, agents.id, page.after),
      ),
    )
    .orderBy(desc(agents.createdAt), desc(agents.id))
    .limit(page.limit);

/**
 * Row-locks the enrollments approved for this agent whose credentials were
 * never collected. Taken BEFORE the agent row: the status read locks its
 * enrollment first and the agent (key share, through agent_keys' foreign key)
 * second, so revocation takes the same order and the two cannot deadlock.
 */
export const lockUncollectedEnrollments = (db: Executor, agentId: string) =>
  db
    .select({ id: enrollments.id })
    .from(enrollments)
    .where(and(eq(enrollments.agentId, agentId), eq(enrollments.status, 'approved'), isNull(enrollments.credentialsIssuedAt)))
    .for('update');

/** Cancels approved-but-uncollected credentials of a revoked agent: they become rejected, so no later approval revives them (#8.5). */
export const cancelUncollectedEnrollments = async (db: Executor, agentId: string, by: string, reason: string, now: Date) =>
  (
    await db
      .update(enrollments)
      .set({ status: 'rejected', rejectReason: reason, decidedBy: by, decidedAt: now, updatedAt: now })
      .where(and(eq(enrollments.agentId, agentId), eq(enrollments.status, 'approved'), isNull(enrollments.credentialsIssuedAt)))
      .returning({ id: enrollments.id })
  ).map((r) => r.id);

export const revokeAgent = async (db: Executor, id: string, by: string, reason: string | null, now: Date) => {
  await db
    .update(agents)
    // Its reverse port is freed with it (issue 21): the endpoint refuses its key from now on anyway.
    .set({ status: 'revoked', revokedAt: now, revokedBy: by, revokeReason: reason, remotePort: null })
    .where(eq(agents.id, id));
  return revokeAgentKeys(db, id, now);
};

export const revokeAgentKeys = async (db: Executor, agentId: string, now: Date): Promise<number> =>
  (await agentKeysRevocation(db, agentId, now)).length;

/** Every live key of the agent revoked, unsent (returning their ids): see agentUpsert. */
export const agentKeysRevocation = (db: Executor, agentId: string, now: Date) =>
  db
    .update(agentKeys)
    .set({ revokedAt: now })
    .where(and(eq(agentKeys.agentId, agentId), isNull(agentKeys.revokedAt)))
    .returning({ id: agentKeys.id });

export const insertAgentKey = async (db: Executor, k: typeof agentKeys.$inferInsert): Promise<void> => {
  await agentKeyInsert(db, k);
};

/** The new key's row, unsent: see agentUpsert. */
export const agentKeyInsert = (db: Executor, k: typeof agentKeys.$inferInsert) => db.insert(agentKeys).values(k);

/** Looks an agent key up by digest; marks it used and its agent seen, only while both are live. */
export const touchLiveAgentKey = async (db: Executor, digest: string, now: Date) => {
  const rows = await db
    .update(agentKeys)
    .set({ lastUsedAt: now })
    .where(
      and(
        eq(agentKeys.digest, digest),
        isNull(agentKeys.revokedAt),
        sql`exists (select 1 from ${agents} where ${agents.id} = ${agentKeys.agentId} and ${agents.status} = 'active')`,
      ),
    )
    .returning({ agentId: agentKeys.agentId });
  const hit = rows[0];
  if (!hit) return null;
  const agent = (
    await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, hit.agentId)).returning()
  )[0];
  return agent ?? null;
};

/** v1.1: an agent proved its key on the agent routes. */
export const markAgentSeen = async (db: Executor, id: string, now: Date): Promise<void> => {
  await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, id));
};
