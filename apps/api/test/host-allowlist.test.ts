/**
 * Issue 18, finding 11: DNS rebinding. A page on rebind.attacker.example,
 * its name re-pointed at the api's address, is same-origin with itself: it
 * signed in to the console (Origin matched the Host it named) and reached the
 * public routes around the edge's throttles. Now any Host but an IP literal,
 * localhost or a name in API_ALLOWED_HOSTS gets 421 misdirected_request,
 * before routing, on every route.
 */
import http from 'node:http';
import { auditEvents, operatorSessions } from '@airlock/schema/db';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgentKey } from '@airlock/testing';
import { createCode, createSite, startTestApi, type TestApi } from '@airlock/api/testing';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';
import { hostName, isAllowedHost } from '../src/http/host.ts';

const PW = 'correct horse battery staple';
const EVIL = 'rebind.attacker.example';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request naming any Host (fetch will not let a caller set it), with an optional cookie jar. */
const send = (port: number, host: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const r = http.request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { host, ...opts.headers, ...(opts.body ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    r.on('error', reject);
    r.end(opts.body);
  });

const cookiesOf = (a: Answer) => (a.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');

/**
 * The rebinding page's sign-in, as a browser would run it: load the form from
 * the attacker's name (pre-session cookie and token), post it back with an
 * Origin that matches that name.
 */
const rebindSignIn = async (t: TestApi, host: string) => {
  const origin = `http://${host}`;
  const form = await send(t.api.port, host, 'GET', '/console/sign-in', { headers: { 'sec-fetch-site': 'none' } });
  const csrf = /name="_csrf" value="([0-9a-f]{64})"/.exec(form.text)?.[1] ?? '';
  const post = await send(t.api.port, host, 'POST', '/console/sign-in', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin, 'sec-fetch-site': 'same-origin', cookie: cookiesOf(form) },
    body: new URLSearchParams({ _csrf: csrf, operator: 'alice', password: PW }).toString(),
  });
  return { form, post };
};

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ env: { API_ALLOWED_HOSTS: 'api.internal, Console.Example.Internal' } });
  await createSite(t, 'HOSTS');
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
});
afterAll(async () => t.close());

describe('a DNS-rebinding page', () => {
  it('cannot sign in to the console: the form and the sign-in are 421, no session and no login row', async () => {
    const port = t.api.port;
    const { form, post } = await rebindSignIn(t, `${EVIL}:${port}`);
    expect(form.status).toBe(421);
    expect(post.status).toBe(421);
    expect(JSON.parse(post.text)).toEqual({ error: { code: 'misdirected_request', message: expect.any(String) } });
    expect(post.headers['set-cookie']).toBeUndefined();
    expect(await t.api.deps.db.select().from(operatorSessions)).toEqual([]);
    expect(await t.api.deps.db.select().from(auditEvents).where(eq(auditEvents.eventType, 'operator.login'))).toEqual([]);
    // The same sequence under the api's own address signs in: the refusal is the Host alone.
    const ok = await rebindSignIn(t, `127.0.0.1:${port}`);
    expect(ok.post.status).toBe(303);
  });

  it('cannot reach the public routes, liveness included, and its refusals are counted, not a row each', async () => {
    const port = t.api.port;
    const { code } = await createCode(t, 'HOSTS');
    const body = JSON.stringify({ site_code: 'HOSTS', pairing_code: code, public_key: newAgentKey().publicKey, hostname: 'vma-01' });
    const enroll = await send(port, EVIL, 'POST', '/api/v1/enroll', { headers: { 'content-type': 'application/json' }, body });
    expect(enroll.status).toBe(421);
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/api/v1/enroll/status'],
      ['POST', '/api/v1/agent/challenge'],
      ['GET', '/api/v1/admin/sites'],
      ['GET', '/console/pending'],
      ['GET', '/no/such/route'],
    ] as const) {
      expect((await send(port, `${EVIL}:${port}`, method, path)).status, path).toBe(421);
    }
    // The code was not consumed: the same enroll under the api's address works.
    const direct = await send(port, `127.0.0.1:${port}`, 'POST', '/api/v1/enroll', { headers: { 'content-type': 'application/json' }, body });
    expect(direct.status).toBe(201);
    const counted = await t.admin('get', '/api/v1/admin/audit/refusals?kind=http.misdirected&limit=100');
    expect(counted.body.items.reduce((n: number, i: { count: number }) => n + i.count, 0)).toBeGreaterThanOrEqual(8);
    expect(await t.api.deps.db.select().from(auditEvents).where(eq(auditEvents.eventType, 'http.misdirected'))).toEqual([]);
  });
});

describe('the names the api answers to', () => {
  it('takes IP literals, localhost and the configured names (any case, trailing dot, any port), and nothing else', async () => {
    const port = t.api.port;
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `[::1]:${port}`, `localhost:${port}`, 'LOCALHOST', '10.0.1.20:8082', 'api.internal', `API.INTERNAL.:${port}`, 'console.example.internal']) {
      expect((await send(port, host, 'GET', '/readyz')).status, host).toBe(200);
    }
    for (const host of [EVIL, 'api.internal.evil.example', 'evil-api.internal', 'x.localhost', '127.0.0.1.nip.io', `${EVIL}:${port}`]) {
      expect((await send(port, host, 'GET', '/readyz')).status, host).toBe(421);
    }
    // Malformed: Node's parser may refuse it first (400); either way nothing is served.
    for (const host of ['[evil]', 'api.internal:80:80']) {
      expect([400, 421], host).toContain((await send(port, host, 'GET', '/readyz')).status);
    }
  });

  it('parses the Host header strictly', () => {
    expect(hostName('Api.Internal.:8082')).toBe('api.internal');
    expect(hostName('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(hostName('[::1]junk')).toBeNull();
    expect(hostName('a:b:c')).toBeNull();
    const none = new Set<string>();
    expect(isAllowedHost(undefined, none)).toBe(true);
    expect(isAllowedHost('10.0.0.1:1', none)).toBe(true);
    expect(isAllowedHost('api.internal', none)).toBe(false);
    expect(isAllowedHost('api.internal', new Set(['api.internal']))).toBe(true);
  });
});
