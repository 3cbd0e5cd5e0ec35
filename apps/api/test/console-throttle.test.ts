/**
 * Issue 18, finding 10: the console sign-in throttle was bypassed from
 * loopback. The default API_TRUSTED_PROXIES believed X-Forwarded-For from any
 * local peer, so eight wrong passwords with a rotating XFF all got 401. Now
 * no proxy is trusted unless configured, and a per-operator throttle holds
 * whatever the address: 20 failures per operator name in 15 minutes lock that
 * name (the right password fails too) until they age out or an admin clears them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '@airlock/schema/db';
import { eq } from 'drizzle-orm';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { ConsoleClient } from '@airlock/testing';
import { runCli } from '@airlock/cli/run';
import { SIGN_IN_OPERATOR_MAX_FAILURES, setOperatorPassword } from '../src/domain/console-sessions.ts';
import { createOperator } from '../src/domain/operators.ts';

const PW = 'correct horse battery staple';

describe('the default configuration, attacked from loopback', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi();
    await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  });
  afterAll(async () => t.close());

  it('throttles eight wrong passwords with a rotating X-Forwarded-For: the header is not believed', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const c = new ConsoleClient(t.api.url, { 'x-forwarded-for': `198.51.100.${i + 1}` });
      statuses.push((await c.signIn('alice', `wrong password ${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const failed = await t.api.deps.db.select().from(auditEvents).where(eq(auditEvents.eventType, 'operator.login_failed'));
    expect(new Set(failed.map((r) => r.sourceIp))).toEqual(new Set(['127.0.0.1']));
  });
});

describe('the per-operator throttle, behind a configured proxy that reports real addresses', () => {
  let t: TestApi;
  let ip = 0;
  /** A browser at a new address each time: what a botnet, or a forged header through a trusted proxy, looks like. */
  const fromNewAddress = () => new ConsoleClient(t.api.url, { 'x-forwarded-for': `203.0.113.${++ip}` });
  const fail = async (name: string, n: number) => {
    for (let i = 0; i < n; i++) expect((await fromNewAddress().signIn(name, `wrong password ${i}`)).status).toBe(401);
  };
  const cli = async (args: string[]) => {
    let out = '';
    const code = await runCli(args, { io: { out: (s) => (out += s), err: (s) => (out += s) }, env: { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken } });
    return { code, out };
  };

  beforeAll(async () => {
    t = await startTestApi({ env: { API_TRUSTED_PROXIES: '127.0.0.1' } });
    for (const name of ['carol', 'dave', 'erin', 'frank']) {
      await createOperator(t.api.deps.db, t.clock, { name, role: 'admin' }, 'test', null);
      await setOperatorPassword(t.api.deps.db, t.clock, name, PW, 'test', null);
    }
  });
  afterAll(async () => t.close());

  it('locks the operator name after 20 failures from 20 addresses: the right password from a 21st address gets 429 and the wait', async () => {
    await fail('carol', SIGN_IN_OPERATOR_MAX_FAILURES);
    const right = await fromNewAddress().signIn('carol', PW);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(right.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    expect(right.text).toContain('Too many failed sign-ins. Try again in 15 minutes.');
    // The right password and a wrong one meet the same answer: the lockout is no oracle.
    const wrong = await fromNewAddress().signIn('carol', 'still wrong password');
    const strip = (html: string) => html.replace(/[0-9a-f]{64}/g, '');
    expect(wrong.status).toBe(429);
    expect(strip(wrong.text)).toBe(strip(right.text));
    expect(wrong.headers.get('retry-after')).toBe(right.headers.get('retry-after'));
    const throttled = await t.admin('get', '/api/v1/admin/audit?event_type=operator.login_throttled');
    expect(throttled.body.items[0].details).toMatchObject({ operator: 'carol', scope: 'operator' });
    // Another operator is not affected.
    expect((await fromNewAddress().signIn('dave', PW)).status).toBe(303);
    // It ends when the failures age out of the 15-minute window.
    t.clock.advance(15 * 60_000 + 1000);
    expect((await fromNewAddress().signIn('carol', PW)).status).toBe(303);
  });

  it('counts names that are no operator the same way (no existence oracle)', async () => {
    await fail('nobody-here', SIGN_IN_OPERATOR_MAX_FAILURES);
    expect((await fromNewAddress().signIn('nobody-here', PW)).status).toBe(429);
  });

  it('lets exactly one of concurrent guesses from different addresses through at the limit', async () => {
    await fail('erin', SIGN_IN_OPERATOR_MAX_FAILURES - 1);
    const clients = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = fromNewAddress();
        await c.get('/console/sign-in');
        return c;
      }),
    );
    const results = await Promise.all(clients.map((c) => c.post('/console/sign-in', { operator: 'erin', password: 'another wrong one' })));
    expect(results.map((r) => r.status).sort()).toEqual([401, 429, 429, 429, 429, 429]);
  });

  it('is lifted by an admin: airlock operators clear-sign-in, audited; a new password lifts it too', async () => {
    await fail('frank', SIGN_IN_OPERATOR_MAX_FAILURES);
    expect((await fromNewAddress().signIn('frank', PW)).status).toBe(429);
    t.clock.advance(1000);
    const cleared = await cli(['operators', 'clear-sign-in', 'frank']);
    expect(cleared.code, cleared.out).toBe(0);
    expect(cleared.out).toBe('cleared the failed console sign-ins of admin operator frank; it can sign in again\n');
    expect((await fromNewAddress().signIn('frank', PW)).status).toBe(303);
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=operator.sign_in_cleared');
    expect(audit.body.items[0]).toMatchObject({ actor: 'alice', details: { operator: 'frank' } });

    // Locked again, then an admin sets a new password: the new one works at once.
    await fail('frank', SIGN_IN_OPERATOR_MAX_FAILURES);
    expect((await fromNewAddress().signIn('frank', PW)).status).toBe(429);
    t.clock.advance(1000);
    await setOperatorPassword(t.api.deps.db, t.clock, 'frank', 'a brand new password', 'alice', null);
    expect((await fromNewAddress().signIn('frank', 'a brand new password')).status).toBe(303);

    // Only an admin may clear it, and an unknown name is a 404.
    const byAuditor = await t.http.post('/api/v1/admin/operators/frank/clear-sign-in-failures').set('authorization', `Bearer ${t.auditorToken}`).send({});
    expect(byAuditor.status).toBe(403);
    expect((await t.admin('post', '/api/v1/admin/operators/no-such/clear-sign-in-failures').send({})).status).toBe(404);
  });
});
