/**
 * Postgres restarted under enrollment traffic (issue 13): a private cluster
 * this file owns is stopped (`pg_ctl -m fast`, which also terminates open
 * sessions) and started again while agents enroll against the api process.
 * Promises: every answer is either the flow's success or a 503
 * service_unavailable envelope (never a 500, never a hang past the edge's
 * upstream timeout); /readyz goes 503 then 200; the same api process serves
 * again without a restart; and no enrollment is left half-written.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '@airlock/testing';
import { enrollToPollToken, pollStatus, type Admin } from './support/airlock.ts';
import { hit, quantile, report, type Hit } from './support/http.ts';
import type { PrivatePostgres } from './support/postgres.ts';
import { startApiOnPrivatePostgres, type PrivateApi } from './support/private-api.ts';
import type { ApiProcess } from './support/processes.ts';

/** The edge's default EDGE_UPSTREAM_TIMEOUT_MS: no answer may take longer. */
const UPSTREAM_TIMEOUT_MS = 15_000;

let env: PrivateApi;
let pg: PrivatePostgres;
let dbUrl: string;
let api: ApiProcess;
let admin: Admin;

beforeAll(async () => {
  env = await startApiOnPrivatePostgres('airlock_chaos');
  ({ pg, dbUrl, api, admin } = env);
});

afterAll(async () => {
  await env?.stop();
});

const isEnvelope = (h: Hit, code: string): boolean => {
  try {
    const body = JSON.parse(h.body) as { error?: { code?: unknown; message?: unknown } };
    return body.error?.code === code && typeof body.error.message === 'string';
  } catch {
    return false;
  }
};

describe('Postgres restarted mid-enrollment', () => {
  it('answers 503 while it is down, recovers without an api restart, and leaves nothing half-written', async () => {
    const site = await admin.site('auto');
    // Codes made before the outage: the agents hold them while the database goes away.
    const codes = await Promise.all(Array.from({ length: 80 }, () => admin.code(site, { autoApprove: true })));

    const answers: Hit[] = [];
    const transportErrors: string[] = [];
    let completed = 0;
    let running = true;
    const worker = async () => {
      while (running) {
        const code = codes.pop();
        if (!code) return;
        try {
          const attempt = await enrollToPollToken(api.url, site, code.code);
          answers.push(...attempt.answers);
          if (attempt.pollToken) {
            const status = await pollStatus(api.url, attempt.pollToken);
            answers.push(status);
            if (status.status === 200) completed += 1;
          }
        } catch (err) {
          transportErrors.push(err instanceof Error ? err.message : String(err));
        }
      }
    };
    const workers = Array.from({ length: 4 }, () => worker());

    // Enrollments are flowing; then the database goes away under them.
    await sleep(800);
    const downAt = performance.now();
    await pg.stop('fast');
    const readyDown = await hit(`${api.url}/readyz`);
    expect(readyDown.status).toBe(503);
    expect(isEnvelope(readyDown, 'service_unavailable')).toBe(true);
    await sleep(2_000);
    await pg.start();
    // Ready again without touching the api process.
    let readyAgainMs = NaN;
    for (let i = 0; i < 200; i += 1) {
      if ((await hit(`${api.url}/readyz`)).status === 200) {
        readyAgainMs = performance.now() - downAt;
        break;
      }
      await sleep(100);
    }
    expect(Number.isFinite(readyAgainMs)).toBe(true);
    await sleep(1_000);
    running = false;
    await Promise.all(workers);

    const unavailable = answers.filter((a) => a.status === 503);
    const bad = answers.filter((a) => ![200, 201, 503].includes(a.status));
    expect(transportErrors).toEqual([]);
    // The outage was seen by in-flight requests, and each one was told so properly.
    expect(unavailable.length).toBeGreaterThan(0);
    for (const a of unavailable) {
      expect(isEnvelope(a, 'service_unavailable')).toBe(true);
      expect(a.headers['retry-after']).toBe('5');
    }
    // A consumed code retried after a 503 would be 401; none is, because nothing committed on a 503.
    expect(bad.map((a) => `${a.status} ${a.body}`)).toEqual([]);
    const slow = answers.filter((a) => a.ms > 3000).map((a) => `${Math.round(a.ms)}ms ${a.status} ${a.body.slice(0, 120)}`);
    if (slow.length) process.stderr.write(`SLOW: ${slow.join('\n')}\n${api.proc().output().slice(-3000)}\n`);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(UPSTREAM_TIMEOUT_MS);

    // The same api process enrolls again, end to end.
    const pid = api.proc().pid;
    const fresh = await admin.code(site, { autoApprove: true });
    const after = await enrollToPollToken(api.url, site, fresh.code);
    expect(after.answers.map((a) => a.status)).toEqual([201, 200]);
    expect((await pollStatus(api.url, after.pollToken ?? '')).status).toBe(200);
    expect(api.proc().pid).toBe(pid);
    expect(api.proc().alive()).toBe(true);

    // Nothing half-written: a consumed code has its enrollment, an issued key its agent.
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    try {
      const orphanCodes = await sql`
        select pc.id from pairing_codes pc
        where pc.used_at is not null
          and not exists (select 1 from enrollments e where e.id = pc.used_by_enrollment and e.pairing_code_id = pc.id)`;
      const orphanKeys = await sql`
        select k.id from agent_keys k
        where not exists (select 1 from agents a join enrollments e on e.id = a.enrollment_id
                          where a.id = k.agent_id and e.status = 'approved' and e.agent_id = a.id)`;
      const approvedWithoutAgent = await sql`
        select e.id from enrollments e
        where e.status = 'approved' and not exists (select 1 from agents a where a.id = e.agent_id)`;
      const duplicateAgents = await sql`select enrollment_id from agents group by enrollment_id having count(*) > 1`;
      const issuedWithoutKey = await sql`
        select e.id from enrollments e
        where e.credentials_issued_at is not null and not exists (select 1 from agent_keys k where k.agent_id = e.agent_id)`;
      expect({ orphanCodes, orphanKeys, approvedWithoutAgent, duplicateAgents, issuedWithoutKey }).toEqual({
        orphanCodes: [],
        orphanKeys: [],
        approvedWithoutAgent: [],
        duplicateAgents: [],
        issuedWithoutKey: [],
      });
    } finally {
      await sql.end();
    }
    report('postgres restart', {
      answers: answers.length,
      answered_503: unavailable.length,
      answered_500: answers.filter((a) => a.status === 500).length,
      completed_enrollments: completed,
      slowest_answer_ms: Math.round(Math.max(...answers.map((a) => a.ms))),
      p99_ms: Math.round(quantile(answers.map((a) => a.ms), 0.99)),
      ready_again_after_ms: Math.round(readyAgainMs),
    });
  });
});
