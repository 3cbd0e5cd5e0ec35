/**
 * The api SIGKILLed mid-approval and mid-status-read, then restarted on the
 * same database (issue 13). Every enrollment must end in exactly one
 * consistent state, with no duplicate agents; an agent whose status answer
 * was lost recovers by the documented operator path: revoke the agent that
 * was issued, give the machine a new pairing code, enroll again.
 *
 * An agent whose status answer died with the api recovers with no operator
 * through POST /api/v1/agent/credentials with rotate_agent_key (contract v1.1):
 * see `recoverLostKey` below.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, sleep, type TestAgentKey, type TestDatabase } from '@airlock/testing';
import { adminClient, createAdminToken, enrollToPollToken, pollStatus, recoverAgentKey, type Admin } from './support/airlock.ts';
import { hit, report, type Hit } from './support/http.ts';
import { apiProcess, type ApiProcess } from './support/processes.ts';

let db: TestDatabase;
let api: ApiProcess;
let admin: Admin;
let adminToken: string;
let serviceToken: string;

beforeAll(async () => {
  db = await createTestDatabase('airlock_test_chaos');
  // 1 s polls: a re-poll after the restart is not refused as too early.
  api = await apiProcess(db.url, { AIRLOCK_POLL_INTERVAL_SECONDS: '1' });
  await api.start();
  adminToken = await createAdminToken(db.url);
  admin = adminClient(api.url, adminToken);
  serviceToken = await createAdminToken(db.url, 'service');
});

afterAll(async () => {
  await api?.cleanup();
  await db?.drop();
});

type Outcome = { ok: true; hit: Hit } | { ok: false; error: string };
const settle = (p: Promise<Hit>): Promise<Outcome> =>
  p.then(
    (h) => ({ ok: true as const, hit: h }),
    (err: unknown) => ({ ok: false as const, error: err instanceof Error ? err.message : String(err) }),
  );

/** Fires every request at once and SIGKILLs the api as soon as the first answer is back. */
const killMidway = async (requests: Array<() => Promise<Hit>>): Promise<Outcome[]> => {
  let killed: Promise<void> | null = null;
  const all = await Promise.all(
    requests.map((r) =>
      settle(
        r().then((h) => {
          killed ??= api.kill();
          return h;
        }),
      ),
    ),
  );
  killed ??= api.kill();
  await killed;
  return all;
};

const approve = (id: string) =>
  hit(`${api.url}/api/v1/admin/enrollments/${id}/approve`, { headers: { authorization: `Bearer ${adminToken}` }, body: {} });

const verifyKey = (agentKey: string) =>
  hit(`${api.url}/api/v1/internal/agent-keys/verify`, { headers: { authorization: `Bearer ${serviceToken}` }, body: { agent_key: agentKey } });

/** The poll interval is 1 s; an early poll is answered slow_down, so wait it out first. */
const politePoll = async (token: string): Promise<Hit> => {
  await sleep(1_100);
  return pollStatus(api.url, token);
};

interface Consistency {
  statuses: Record<string, number>;
  agentsPerEnrollment: number[];
  approvedWithoutAgent: number;
  issuedWithoutKey: number;
  keysPerAgent: number[];
}

const consistency = async (site: string): Promise<Consistency> => {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const statuses = await sql<{ status: string; n: number }[]>`
      select status, count(*)::int as n from enrollments where site_code = ${site} group by status`;
    const perEnrollment = await sql<{ n: number }[]>`
      select count(a.id)::int as n from enrollments e left join agents a on a.enrollment_id = e.id
      where e.site_code = ${site} and e.status = 'approved' group by e.id`;
    const [noAgent] = await sql<{ n: number }[]>`
      select count(*)::int as n from enrollments e
      where e.site_code = ${site} and e.status = 'approved'
        and not exists (select 1 from agents a where a.id = e.agent_id and a.enrollment_id = e.id)`;
    const [noKey] = await sql<{ n: number }[]>`
      select count(*)::int as n from enrollments e
      where e.site_code = ${site} and e.credentials_issued_at is not null
        and not exists (select 1 from agent_keys k where k.agent_id = e.agent_id)`;
    // Live keys only: a recovered agent's lost key is revoked by the rotation, and exactly one stays current.
    const keys = await sql<{ n: number }[]>`
      select count(k.id)::int as n from agents a left join agent_keys k on k.agent_id = a.id and k.revoked_at is null
      where a.site_code = ${site} group by a.id`;
    return {
      statuses: Object.fromEntries(statuses.map((r) => [r.status, r.n])),
      agentsPerEnrollment: [...new Set(perEnrollment.map((r) => r.n))],
      approvedWithoutAgent: noAgent?.n ?? -1,
      issuedWithoutKey: noKey?.n ?? -1,
      keysPerAgent: [...new Set(keys.map((r) => r.n))],
    };
  } finally {
    await sql.end();
  }
};

/**
 * An agent that never received its key recovers with no operator (contract
 * v1.1): it proves the enrolled key it already holds on the agent routes and
 * asks for a new cak_ (rotate_agent_key); the agent's earlier keys, including
 * the one lost with the api, stop verifying.
 */
const recoverLostKey = async (key: TestAgentKey): Promise<string> => {
  const answer = await recoverAgentKey(api.url, key);
  expect(answer.status).toBe(200);
  return String((JSON.parse(answer.body) as { credentials: { agent_key: string } }).credentials.agent_key);
};

describe('api SIGKILLed mid-approval and mid-status-read', () => {
  it('leaves every enrollment in one consistent state, and lost credentials are recovered by the agent itself, with no operator', async () => {
    const site = await admin.site('manual');
    const N = 30;
    const pending = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const code = await admin.code(site);
        const attempt = await enrollToPollToken(api.url, site, code.code, { hostname: `node-${i}` });
        if (!attempt.enrollmentId || !attempt.pollToken) throw new Error(`enroll ${i}: ${attempt.answers.map((a) => a.status).join(',')}`);
        return { id: attempt.enrollmentId, pollToken: attempt.pollToken, hostname: `node-${i}`, key: attempt.key };
      }),
    );

    // ---- mid-approval ----------------------------------------------------
    const approvals = await killMidway(pending.map((p) => () => approve(p.id)));
    const approvedBeforeKill = approvals.filter((o) => o.ok && o.hit.status === 200).length;
    const approvalsLost = approvals.filter((o) => !o.ok).length;
    expect(approvals.every((o) => !o.ok || o.hit.status === 200)).toBe(true);
    await api.start();

    // Each enrollment is either approved with exactly one agent, or still waiting.
    const afterApprovalKill = await consistency(site);
    expect(Object.keys(afterApprovalKill.statuses).every((s) => s === 'approved' || s === 'awaiting_approval')).toBe(true);
    expect(afterApprovalKill.statuses['approved'] ?? 0).toBeGreaterThanOrEqual(approvedBeforeKill);
    expect(afterApprovalKill.agentsPerEnrollment.every((n) => n === 1)).toBe(true);
    expect(afterApprovalKill.approvedWithoutAgent).toBe(0);

    // The operator retries every approval: a lost one that had committed is 409 invalid_state, the rest 200.
    const retried = await Promise.all(pending.map((p) => approve(p.id)));
    const retriedCodes = retried.map((r) => (r.status === 200 ? 'ok' : (JSON.parse(r.body) as { error: { code: string } }).error.code));
    expect(retriedCodes.every((c) => c === 'ok' || c === 'invalid_state')).toBe(true);
    const afterRetry = await consistency(site);
    expect(afterRetry.statuses).toEqual({ approved: N });
    expect(afterRetry.agentsPerEnrollment).toEqual([1]);

    // ---- mid-status-read --------------------------------------------------
    await sleep(1_100);
    const reads = await killMidway(pending.map((p) => () => pollStatus(api.url, p.pollToken)));
    await api.start();
    const delivered = new Map<string, string>();
    reads.forEach((o, i) => {
      if (o.ok && o.hit.status === 200) delivered.set(pending[i]?.id ?? '', (JSON.parse(o.hit.body) as { credentials: { agent_key: string } }).credentials.agent_key);
    });
    expect(reads.every((o) => !o.ok || o.hit.status === 200)).toBe(true);
    // One more agent whose answer is lost for sure: it read the key and crashed before saving it.
    const extraCode = await admin.code(site);
    const extra = await enrollToPollToken(api.url, site, extraCode.code, { hostname: 'node-crashed' });
    expect((await approve(extra.enrollmentId ?? '')).status).toBe(200);
    expect((await politePoll(extra.pollToken ?? '')).status).toBe(200);
    const all = [...pending, { id: extra.enrollmentId ?? '', pollToken: extra.pollToken ?? '', hostname: 'node-crashed', key: extra.key }];

    // Every agent that did not get its answer polls again: 200 if the read had not
    // committed, 410 credentials_already_issued if the answer died with the api.
    const lost: Array<(typeof all)[number]> = [];
    let secondReads = 0;
    await sleep(1_100);
    const undelivered = all.filter((p) => !delivered.has(p.id));
    const again = await Promise.all(undelivered.map((p) => pollStatus(api.url, p.pollToken)));
    undelivered.forEach((p, i) => {
      const answer = again[i];
      if (answer?.status === 200) {
        secondReads += 1;
        delivered.set(p.id, (JSON.parse(answer.body) as { credentials: { agent_key: string } }).credentials.agent_key);
      } else {
        expect(answer?.status).toBe(410);
        expect((JSON.parse(answer?.body ?? '{}') as { error?: { code: string } }).error?.code).toBe('credentials_already_issued');
        lost.push(p);
      }
    });
    expect(lost.length).toBeGreaterThanOrEqual(1);

    // Every key that reached an agent works; the lost ones are recovered by the operator.
    for (const key of delivered.values()) expect((await verifyKey(key)).status).toBe(200);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      for (const p of lost) {
        const key = await recoverLostKey(p.key);
        expect((await verifyKey(key)).status).toBe(200);
      }
      // No duplicates: one active agent per machine (host name here), every issued key has its agent.
      const dupes = await sql`
        select hostname from agents where site_code = ${site} and status = 'active' group by hostname having count(*) > 1`;
      expect(dupes).toEqual([]);
      const [active] = await sql<{ n: number }[]>`select count(*)::int as n from agents where site_code = ${site} and status = 'active'`;
      expect(active?.n).toBe(N + 1);
    } finally {
      await sql.end();
    }
    const final = await consistency(site);
    expect(final.agentsPerEnrollment).toEqual([1]);
    expect(final.approvedWithoutAgent).toBe(0);
    expect(final.issuedWithoutKey).toBe(0);
    expect(final.keysPerAgent).toEqual([1]);

    report('api SIGKILL', {
      enrollments: N,
      approvals_answered_before_kill: approvedBeforeKill,
      approvals_cut_by_kill: approvalsLost,
      status_reads_delivered_before_kill: reads.filter((o) => o.ok).length,
      status_reads_cut_by_kill: reads.filter((o) => !o.ok).length,
      cut_reads_that_had_not_committed: secondReads,
      lost_answers_recovered_by_the_agent: lost.length,
    });
  });
});
