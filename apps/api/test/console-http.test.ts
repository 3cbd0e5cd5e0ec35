/**
 * The operator console at the HTTP level, against a real api on a real
 * database: sign-in, sessions (idle, absolute, fixation, sign-out, disabled
 * operators), the sign-in throttle, CSRF and same-origin checks, roles, and
 * the security headers on every page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, operatorSessions } from '@airlock/schema/db';
import { eq } from 'drizzle-orm';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';
import { hashPassword } from '../src/domain/passwords.ts';
import { setPasswordHash } from '../src/store/sessions.ts';
import { CONSOLE_CSP } from '../src/console/security.ts';
import { createCode, createSite, enrollAndVerify, startTestApi, type TestApi } from '@airlock/api/testing';
import { ConsoleClient } from '@airlock/testing';
import { createOperator } from '../src/domain/operators.ts';

const PW = 'correct horse battery staple';
let t: TestApi;

const auditRows = async (eventType: string) =>
  t.api.deps.db.select().from(auditEvents).where(eq(auditEvents.eventType, eventType));

const client = (ip?: string) => new ConsoleClient(t.api.url, ip ? { 'x-forwarded-for': ip } : {});

const signedIn = async (name = 'alice', ip?: string) => {
  const c = client(ip);
  const res = await c.signIn(name, PW);
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe('/console/pending');
  await c.get('/console/pending');
  return c;
};

beforeAll(async () => {
  // The tests play clients at many addresses through X-Forwarded-For, as the edge would report them:
  // loopback is the trusted proxy here (since issue 18 nothing is trusted unless configured).
  t = await startTestApi({ env: { API_TRUSTED_PROXIES: '127.0.0.1' } });
  await createSite(t, 'WEB');
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  await setOperatorPassword(t.api.deps.db, t.clock, 'audrey', PW, 'test', null);
});
afterAll(async () => t.close());

describe('sign-in', () => {
  it('sends a visitor without a session to the sign-in form', async () => {
    const res = await client().get('/console/pending');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/sign-in');
  });

  it('signs in with the right password, sets a strict cookie and audits operator.login', async () => {
    const c = client();
    const res = await c.signIn('alice', PW);
    expect(res.status).toBe(303);
    const cookie = res.setCookies.find((s) => s.startsWith('airlock_console='));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\/console(;|$)/);
    expect(cookie).not.toMatch(/; Secure/);
    const page = await c.get('/console/pending');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Sign out');
    const logins = await auditRows('operator.login');
    expect(logins.some((r) => r.actor === 'alice')).toBe(true);
  });

  it('stores the session token hashed, never in clear', async () => {
    const c = await signedIn();
    const token = c.cookies.get('airlock_console') ?? '';
    expect(token).toMatch(/^acs_/);
    const rows = await t.api.deps.db.select().from(operatorSessions);
    expect(rows.some((r) => r.tokenDigest === token)).toBe(false);
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('answers an unknown operator and a wrong password with the same page and status', async () => {
    const a = await client('10.1.0.1').signIn('alice', 'wrong password here');
    const b = await client('10.1.0.1').signIn('nobody', 'wrong password here');
    expect(a.status).toBe(401);
    expect(b.status).toBe(401);
    const message = (html: string) => /<p class="notice notice-error"[^>]*>([^<]*)</.exec(html)?.[1];
    expect(message(a.text)).toBe('The operator name or password is wrong');
    expect(message(b.text)).toBe(message(a.text));
    expect(a.text.replace(/[0-9a-f]{64}/g, '')).toBe(b.text.replace(/[0-9a-f]{64}/g, ''));
    const failed = await auditRows('operator.login_failed');
    expect(failed.map((r) => (r.details as { reason: string }).reason)).toEqual(expect.arrayContaining(['wrong_password', 'unknown_operator']));
  });

  it('refuses a service operator even with a correct password hash', async () => {
    await expect(setOperatorPassword(t.api.deps.db, t.clock, 'mgmt', PW, 'test', null)).rejects.toMatchObject({ code: 'invalid_state' });
    await setPasswordHash(t.api.deps.db, 'mgmt', await hashPassword(PW));
    const res = await client('10.1.0.2').signIn('mgmt', PW);
    expect(res.status).toBe(401);
    expect(res.setCookies.some((s) => s.startsWith('airlock_console='))).toBe(false);
  });

  it('refuses a sign-in without the sign-in form token (login CSRF)', async () => {
    const c = client();
    const res = await c.post('/console/sign-in', { operator: 'alice', password: PW });
    expect(res.status).toBe(403);
    expect(res.setCookies.some((s) => s.startsWith('airlock_console='))).toBe(false);
  });

  it('gives a new token at every sign-in and ends a planted one (fixation)', async () => {
    const attacker = await signedIn('alice', '10.1.0.3');
    const planted = attacker.cookies.get('airlock_console') ?? '';
    const victim = client('10.1.0.3');
    victim.cookies.set('airlock_console', planted);
    const res = await victim.signIn('alice', PW);
    expect(res.status).toBe(303);
    const fresh = victim.cookies.get('airlock_console');
    expect(fresh).toMatch(/^acs_/);
    expect(fresh).not.toBe(planted);
    expect((await attacker.get('/console/pending')).status).toBe(303);
    expect((await victim.get('/console/pending')).status).toBe(200);
  });

  it('signs out by ending the server-side session, audited as operator.logout', async () => {
    const c = await signedIn();
    const token = c.cookies.get('airlock_console') ?? '';
    const res = await c.post('/console/sign-out');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/sign-in?done=signed_out');
    expect(c.cookies.has('airlock_console')).toBe(false);
    const replay = client();
    replay.cookies.set('airlock_console', token);
    expect((await replay.get('/console/pending')).status).toBe(303);
    expect((await auditRows('operator.logout')).length).toBeGreaterThan(0);
  });

  it('keeps bearer tokens working for the CLI, and a console cookie opens no admin route', async () => {
    const c = await signedIn();
    expect((await t.admin('get', '/api/v1/admin/sites')).status).toBe(200);
    const res = await fetch(`${t.api.url}/api/v1/admin/sites`, { headers: { cookie: `airlock_console=${c.cookies.get('airlock_console')}` } });
    expect(res.status).toBe(401);
  });
});

describe('session expiry (injected clock)', () => {
  it('ends a session idle for 30 minutes, and activity keeps it alive until then', async () => {
    const c = await signedIn('alice', '10.2.0.1');
    t.clock.advance(29 * 60_000);
    expect((await c.get('/console/agents')).status).toBe(200);
    t.clock.advance(29 * 60_000);
    expect((await c.get('/console/agents')).status).toBe(200);
    t.clock.advance(30 * 60_000);
    const res = await c.get('/console/agents');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/sign-in');
  });

  it('does not let the live refresh of Pending keep an unattended session alive', async () => {
    const c = await signedIn('alice', '10.2.0.2');
    for (let i = 0; i < 4; i++) {
      t.clock.advance(7 * 60_000);
      expect((await c.get('/console/pending/rows', { 'x-console-background': '1' })).status).toBe(200);
    }
    t.clock.advance(3 * 60_000);
    expect((await c.get('/console/pending/rows', { 'x-console-background': '1' })).status).toBe(401);
    expect((await c.get('/console/pending')).status).toBe(303);
  });

  it('ends a session 12 hours after sign-in however active it is', async () => {
    const c = await signedIn('alice', '10.2.0.3');
    for (let i = 0; i < 35; i++) {
      t.clock.advance(20 * 60_000);
      expect((await c.get('/console/sites')).status).toBe(200);
    }
    t.clock.advance(20 * 60_000);
    expect((await c.get('/console/sites')).status).toBe(303);
  });

  it('ends every session of an operator the moment it is disabled', async () => {
    await createOperator(t.api.deps.db, t.clock, { name: 'bob', role: 'admin' }, 'test', null);
    await setOperatorPassword(t.api.deps.db, t.clock, 'bob', PW, 'test', null);
    const c = await signedIn('bob', '10.2.0.4');
    expect((await c.get('/console/agents')).status).toBe(200);
    expect((await t.admin('post', '/api/v1/admin/operators/bob/disable')).status).toBe(200);
    expect((await c.get('/console/agents')).status).toBe(303);
    const again = await client('10.2.0.4').signIn('bob', PW);
    expect(again.status).toBe(401);
  });
});

describe('sign-in throttle: 5 failures per (operator, IP) per 15 minutes', () => {
  it('answers the 6th attempt with 429 and the wait, even with the right password', async () => {
    const ip = '10.3.0.1';
    for (let i = 0; i < 5; i++) expect((await client(ip).signIn('alice', `wrong-${i}-password`)).status).toBe(401);
    const sixth = await client(ip).signIn('alice', PW);
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(sixth.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    expect(sixth.text).toContain('Too many failed sign-ins. Try again in 15 minutes.');
    expect(sixth.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    // Another address, or the same operator's own budget elsewhere, is not affected.
    expect((await client('10.3.0.2').signIn('alice', PW)).status).toBe(303);
    t.clock.advance(15 * 60_000 + 1000);
    expect((await client(ip).signIn('alice', PW)).status).toBe(303);
  });

  it('lets exactly one of concurrent guesses through at the limit', async () => {
    const ip = '10.3.0.9';
    for (let i = 0; i < 4; i++) expect((await client(ip).signIn('audrey', `wrong-${i}-password`)).status).toBe(401);
    const clients = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = client(ip);
        await c.get('/console/sign-in');
        return c;
      }),
    );
    const results = await Promise.all(clients.map((c) => c.post('/console/sign-in', { operator: 'audrey', password: 'another wrong one' })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([401, 429, 429, 429, 429, 429]);
  });
});

describe('state changes need same origin, a CSRF token and a form media type', () => {
  const attempt = async (opts: Parameters<ConsoleClient['post']>[2], code: string) => {
    const c = await signedIn('alice', '10.4.0.1');
    const res = await c.post('/console/sites', { site_code: code, name: 'Forged' }, opts);
    const sites = await t.admin('get', '/api/v1/admin/sites');
    return { res, created: sites.body.items.some((s: { site_code: string }) => s.site_code === code) };
  };

  it('accepts a same-origin form with the token', async () => {
    const { res, created } = await attempt({}, 'OK-1');
    expect(res.status).toBe(303);
    expect(created).toBe(true);
  });

  it('refuses a missing token', async () => {
    const { res, created } = await attempt({ noCsrf: true }, 'NO-TOKEN');
    expect(res.status).toBe(403);
    expect(created).toBe(false);
  });

  it("refuses another session's token", async () => {
    const other = await signedIn('alice', '10.4.0.2');
    const { res, created } = await attempt({ noCsrf: true, rawBody: new URLSearchParams({ _csrf: other.csrf ?? '', site_code: 'STOLEN', name: 'x' }).toString() }, 'STOLEN');
    expect(res.status).toBe(403);
    expect(created).toBe(false);
  });

  it('refuses a foreign Origin, even a same-site one on another port', async () => {
    const foreign = await attempt({ origin: 'http://127.0.0.1:9' }, 'FOREIGN');
    expect(foreign.res.status).toBe(403);
    expect(foreign.created).toBe(false);
    const evil = await attempt({ origin: 'https://evil.example' }, 'EVIL');
    expect(evil.res.status).toBe(403);
    expect(evil.created).toBe(false);
  });

  it('refuses Sec-Fetch-Site other than same-origin, and a request with neither header', async () => {
    for (const [site, code] of [['same-site', 'SS'], ['cross-site', 'CS']] as const) {
      const r = await attempt({ origin: null, secFetchSite: site }, code);
      expect(r.res.status).toBe(403);
      expect(r.created).toBe(false);
    }
    // Browsers send `Origin: null` under Referrer-Policy: no-referrer; only Sec-Fetch-Site can vouch then.
    const nullAlone = await attempt({ origin: 'null' }, 'NULL-ALONE');
    expect(nullAlone.res.status).toBe(403);
    expect(nullAlone.created).toBe(false);
    const nullCross = await attempt({ origin: 'null', secFetchSite: 'cross-site' }, 'NULL-CROSS');
    expect(nullCross.res.status).toBe(403);
    const nullSame = await attempt({ origin: 'null', secFetchSite: 'same-origin' }, 'NULL-SAME');
    expect(nullSame.res.status).toBe(303);
    expect(nullSame.created).toBe(true);
    const bare = await attempt({ origin: null }, 'BARE');
    expect(bare.res.status).toBe(403);
    expect(bare.created).toBe(false);
  });

  it('refuses text/plain (what a cross-site form can send) with 415', async () => {
    const c = await signedIn('alice', '10.4.0.3');
    const res = await c.post('/console/sites', {}, { contentType: 'text/plain', rawBody: `_csrf=${c.csrf}&site_code=PLAIN&name=x` });
    expect(res.status).toBe(415);
    const json = await c.post('/console/sites', {}, { contentType: 'text/plain', rawBody: JSON.stringify({ _csrf: c.csrf, site_code: 'PLAIN', name: 'x' }) });
    expect(json.status).toBe(415);
    const sites = await t.admin('get', '/api/v1/admin/sites');
    expect(sites.body.items.some((s: { site_code: string }) => s.site_code === 'PLAIN')).toBe(false);
  });

  it('accepts application/json with the token in the body', async () => {
    const c = await signedIn('alice', '10.4.0.4');
    const res = await c.post('/console/sites', {}, { contentType: 'application/json', rawBody: JSON.stringify({ _csrf: c.csrf, site_code: 'JSON-1', name: 'Json' }) });
    expect(res.status).toBe(303);
  });
});

describe('roles', () => {
  it('shows an auditor the pages without action buttons, and refuses a forged action with 403', async () => {
    // Something to act on: one enrollment waiting, one active agent, one active code.
    await createSite(t, 'ROLES');
    const waiting = await enrollAndVerify(t, 'ROLES', { hostname: 'waiting-01' });
    const approved = await enrollAndVerify(t, 'ROLES', { hostname: 'approved-01' });
    expect((await t.admin('post', `/api/v1/admin/enrollments/${approved.enrollmentId}/approve`).send({})).status).toBe(200);
    await createCode(t, 'ROLES');
    const buttons = /<button[^>]*>\s*(Approve|Reject|Revoke|Create pairing code|Create site|Rotate enrollment key|Create enrollment key|Lift)\s*</g;
    const admin = await signedIn('alice', '10.5.0.2');
    const adminButtons = new Set<string>();
    for (const path of ['/console/pending', '/console/pairing-codes', '/console/agents', '/console/sites']) {
      for (const m of (await admin.get(path)).text.matchAll(buttons)) adminButtons.add(m[1] ?? '');
    }
    expect([...adminButtons]).toEqual(expect.arrayContaining(['Approve', 'Create pairing code', 'Create site', 'Reject', 'Revoke']));
    expect(adminButtons.has('Rotate enrollment key') || adminButtons.has('Create enrollment key')).toBe(true);
    const c = await signedIn('audrey', '10.5.0.1');
    for (const path of ['/console/pending', '/console/pairing-codes', '/console/agents', '/console/sites', '/console/lockouts']) {
      const page = await c.get(path);
      expect(page.status).toBe(200);
      expect(page.text).not.toMatch(buttons);
    }
    expect((await c.get('/console/pending')).text).toContain('waiting-01');
    const forgedApprove = await c.post(`/console/pending/${waiting.enrollmentId}/approve`, {});
    expect(forgedApprove.status).toBe(403);
    const stillWaiting = await t.admin('get', '/api/v1/admin/enrollments?status=awaiting_approval');
    expect(stillWaiting.body.items.some((e: { id: string }) => e.id === waiting.enrollmentId)).toBe(true);
    const forged = await c.post('/console/sites', { site_code: 'AUDITOR', name: 'Forged' });
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('The auditor role may not do this');
    const forgedCode = await c.post('/console/pairing-codes', { site_code: 'WEB' });
    expect(forgedCode.status).toBe(403);
    const forbidden = await auditRows('admin.forbidden');
    expect(forbidden.some((r) => r.actor === 'audrey' && (r.details as { via?: string }).via === 'console')).toBe(true);
    const codes = await t.admin('get', '/api/v1/admin/pairing-codes?status=active');
    expect(codes.body.items.filter((i: { site_code: string }) => i.site_code === 'WEB')).toEqual([]);
  });
});

describe('security headers and one-time secrets', () => {
  it('puts the CSP, X-Frame-Options and Referrer-Policy on every page, error pages included, with no inline script or style', async () => {
    const c = await signedIn('alice', '10.6.0.1');
    const anon = client();
    const responses = [
      await anon.get('/console/sign-in'),
      await anon.get('/console/pending'),
      await anon.post('/console/sign-in', { operator: 'x', password: 'y' }),
      await c.get('/console/pending'),
      await c.get('/console/pending/rows', { 'x-console-background': '1' }),
      await c.get('/console/pairing-codes'),
      await c.get('/console/agents'),
      await c.get('/console/sites'),
      await c.get('/console/audit'),
      await c.get('/console/lockouts'),
      await c.get('/console/no-such-page'),
      await c.get('/console/audit?site_code=%3Cbad%3E'),
      await c.post('/console/pending/00000000-0000-4000-8000-000000000000/approve'),
      await c.post('/console/sites', {}, { contentType: 'text/plain' }),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 303, 401, 200, 200, 200, 200, 200, 200, 200, 404, 400, 404, 415]);
    for (const r of responses) {
      expect(r.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
      expect(r.text).not.toMatch(/\sstyle=|<style/);
      expect(r.text).not.toMatch(/\son[a-z]+=/);
      // Whole pages in standards mode; the live-refresh fragment is a table body.
      if (r.status !== 303) expect(r.text.startsWith('<!DOCTYPE html>') || r.text.startsWith('<tbody')).toBe(true);
    }
    expect(CONSOLE_CSP).toContain("default-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
  });

  it('shows a new pairing code once, in the POST answer only, never in a URL', async () => {
    const c = await signedIn('alice', '10.6.0.2');
    await c.get('/console/pairing-codes');
    const res = await c.post('/console/pairing-codes', { site_code: 'WEB', ttl_seconds: '600', note: 'rack 4' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBeNull();
    const code = /<p class="secret" id="new-code"[^>]*>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</.exec(res.text)?.[1];
    expect(code).toBeDefined();
    const again = await c.get('/console/pairing-codes');
    expect(again.text).toContain('rack 4');
    expect(again.text).not.toContain(code ?? 'unreachable');
  });

  it('shows a rotated enrollment key once with its vN (XXXX) fingerprint', async () => {
    const c = await signedIn('alice', '10.6.0.3');
    await c.get('/console/sites');
    const res = await c.post('/console/sites/WEB/rotate-key');
    expect(res.status).toBe(201);
    const key = /(cek_[A-Za-z0-9_-]{43})/.exec(res.text)?.[1];
    expect(key).toBeDefined();
    expect(res.text).toMatch(/v1 \([0-9A-F]{4}\)/);
    const again = await c.get('/console/sites');
    expect(again.text).toMatch(/v1 \([0-9A-F]{4}\)/);
    expect(again.text).not.toContain(key ?? 'unreachable');
  });

  it('serves its script and stylesheet as files', async () => {
    const js = await client().get('/console/assets/console.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const css = await client().get('/console/assets/console.css');
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect((await client().get('/console/assets/..%2Fsession.ts')).status).toBe(404);
  });
});

describe('Secure cookie behind TLS', () => {
  it('marks the session cookie Secure when AIRLOCK_CONSOLE_SECURE_COOKIE=1', async () => {
    const tls = await startTestApi({ env: { AIRLOCK_CONSOLE_SECURE_COOKIE: '1' } });
    try {
      await setOperatorPassword(tls.api.deps.db, tls.clock, 'alice', PW, 'test', null);
      const c = new ConsoleClient(tls.api.url);
      const res = await c.signIn('alice', PW);
      expect(res.status).toBe(303);
      const cookie = res.setCookies.find((s) => s.startsWith('airlock_console='));
      expect(cookie).toMatch(/; Secure/);
      expect(cookie).toMatch(/; HttpOnly/);
    } finally {
      await tls.close();
    }
  });
});
