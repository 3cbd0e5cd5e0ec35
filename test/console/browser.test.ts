/**
 * The operator console in a real browser (Debian's Chromium driven by
 * playwright-core) against a real api on a real database, with a real agent
 * key pair enrolling over HTTP: the whole enrollment from the browser, the
 * auditor's read-only view, and XSS payloads rendering as text. Screenshots of
 * every page at laptop and phone widths land in .tmp/console-screenshots/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setOperatorPassword, startTestApi, type TestApi } from '@airlock/api/testing';
import { newAgentKey, request, signatureMatches, startReceiver, type TestAgentKey } from '@airlock/testing';

// The few browser globals the page callbacks touch, typed here: the repo's TypeScript has no DOM lib,
// and string callbacks are not an option (the console's CSP rightly refuses eval).
declare const document: {
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): { value: string } | null;
  documentElement: { scrollWidth: number };
};
declare const window: { __xss?: number };
declare const navigator: { clipboard: { readText(): Promise<string> } };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = path.join(ROOT, '.tmp/console-screenshots');
const PW = 'a long console password';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCRIPT_LABEL = '<script>window.__xss=1</script>';
const IMG_LABEL = '"><img src=x onerror="window.__xss=2">';
const CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

let t: TestApi;
let browser: Browser;
/** Every CSP violation, page error or dialog any page produced: must stay empty. */
const problems: string[] = [];

const watch = (page: Page) => {
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
};

const newContext = async (width: number, height: number): Promise<BrowserContext> => {
  const ctx = await browser.newContext({ viewport: { width, height }, baseURL: t.api.url });
  // Fail with the step that did not happen rather than the test's overall timeout.
  ctx.setDefaultTimeout(15_000);
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.api.url });
  return ctx;
};

const signIn = async (page: Page, name: string) => {
  await page.goto('/console/sign-in');
  await page.getByLabel('Operator').fill(name);
  await page.getByLabel('Password').fill(PW);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/console/pending');
};

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** The agent's side of an enrollment, over real HTTP, as the agent tests do it. */
const enrollAgent = async (site: string, code: string, hostname: string, labels: Record<string, string>) => {
  const key: TestAgentKey = newAgentKey(hostname);
  const e = await request(`${t.api.url}/api/v1/enroll`, {
    body: { site_code: site, pairing_code: code, public_key: key.publicKey, hostname, agent_version: '1.4.2', labels },
  });
  expect(e.status).toBe(201);
  const v = await request(`${t.api.url}/api/v1/enroll/verify`, {
    body: { enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) },
  });
  expect(v.status).toBe(200);
  return { enrollmentId: e.body.enrollment_id as string, pollToken: v.body.poll_token as string };
};

const poll = (pollToken: string) => {
  // The api's clock is injected; move it past the poll interval so the poll is not slow_down.
  t.clock.advance(6000);
  return request(`${t.api.url}/api/v1/enroll/status`, { headers: { authorization: `Bearer ${pollToken}` } });
};

const createCodeInBrowser = async (page: Page, site: string, note: string) => {
  await page.getByRole('link', { name: 'Pairing codes' }).click();
  await page.getByLabel('Site').selectOption(site);
  await page.getByLabel('Note').fill(note);
  await page.getByRole('button', { name: 'Create pairing code' }).click();
  const code = (await page.locator('#new-code').textContent())?.trim() ?? '';
  expect(code).toMatch(CODE_FORMAT);
  return code;
};

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  t = await startTestApi();
  // The browser's countdowns use its own clock: start the api's injected clock at the real time.
  t.clock.advance(Date.now() - t.clock.now().getTime());
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  await setOperatorPassword(t.api.deps.db, t.clock, 'audrey', PW, 'test', null);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the console in Chromium', { timeout: 180_000 }, () => {
  let pendingForAuditor: { enrollmentId: string; pollToken: string };

  it('does a whole enrollment from the browser: site, code, live Pending, approve, revoke, audit, sign out', async () => {
    const ctx = await newContext(1366, 900);
    const page = await ctx.newPage();
    watch(page);
    await page.goto('/console/pending');
    await page.waitForURL('**/console/sign-in');
    await shot(page, 'laptop-sign-in');
    await signIn(page, 'alice');
    await shot(page, 'laptop-pending-empty');

    // A site, created from the Sites page; its name carries markup that must render as text.
    await page.getByRole('link', { name: 'Sites' }).click();
    await page.getByLabel('Site code').fill('BROWSER');
    await page.getByLabel('Name').fill(`Lab ${SCRIPT_LABEL}`);
    await page.getByRole('button', { name: 'Create site' }).click();
    await expect(page.getByText('Site created.')).toBeDefined();
    await page.getByText(`Lab ${SCRIPT_LABEL}`).waitFor();
    await page.getByRole('button', { name: 'Create enrollment key' }).click();
    const fingerprint = (await page.locator('#new-key-title .fp').textContent()) ?? '';
    expect(fingerprint).toMatch(/^v1 \([0-9A-F]{4}\)$/);
    expect(await page.locator('#new-key').textContent()).toMatch(/cek_[A-Za-z0-9_-]{43}/);
    await shot(page, 'laptop-sites-key-rotated');

    // A pairing code: shown once, counting down, copyable, never in the URL.
    const code = await createCodeInBrowser(page, 'BROWSER', IMG_LABEL);
    expect(page.url()).not.toContain(code.replaceAll('-', ''));
    expect(page.url()).not.toContain(code);
    await page.waitForFunction(() => /^\d+:\d\d$/.test(document.getElementById('new-code-countdown')?.textContent ?? ''));
    // Live: the countdown moves without a reload.
    const first = await page.locator('#new-code-countdown').textContent();
    await page.waitForFunction((before) => document.getElementById('new-code-countdown')?.textContent !== before, first);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(code);
    await shot(page, 'laptop-pairing-code-created');

    // Pending stays open while a real agent enrolls: the row appears without a reload.
    await page.getByRole('link', { name: 'Pending' }).click();
    await page.waitForURL('**/console/pending');
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    const agent = await enrollAgent('BROWSER', code, 'vma-browser-01', { script: SCRIPT_LABEL, img: IMG_LABEL });
    expect((await poll(agent.pollToken)).status).toBe(202);
    const row = page.getByRole('row').filter({ hasText: 'vma-browser-01' });
    await row.waitFor({ timeout: 15_000 });
    expect(navigations).toBe(0);
    const listed = await request(`${t.api.url}/api/v1/admin/enrollments?status=awaiting_approval`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    const enrollment = listed.body.items.find((i: { id: string }) => i.id === agent.enrollmentId);
    expect(await row.locator('.fp').textContent()).toBe(enrollment.fingerprint);
    expect(enrollment.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    await expect(row.getByText(SCRIPT_LABEL, { exact: true }).count()).resolves.toBe(1);
    await expect(row.getByText(IMG_LABEL, { exact: true }).count()).resolves.toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => window.__xss ?? 0)).toBe(0);
    await shot(page, 'laptop-pending');

    // Approve with a note; the agent's next poll collects its credentials.
    await row.getByLabel('Notes').fill('checked <b>on site</b>');
    await row.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Approved.').first().waitFor();
    const collected = await poll(agent.pollToken);
    expect(collected.status).toBe(200);
    expect(collected.body.status).toBe('approved');
    expect(collected.body.credentials.agent_key).toMatch(/^cak_/);
    const agentKey = collected.body.credentials.agent_key as string;

    // Agents: filter by site, revoke with a reason; the agent key stops verifying at once.
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByLabel('Site').selectOption('BROWSER');
    await page.getByLabel('Status').selectOption('active');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/site=BROWSER/);
    const agentRow = page.getByRole('row').filter({ hasText: 'vma-browser-01' });
    await agentRow.waitFor();
    await shot(page, 'laptop-agents');
    await agentRow.getByLabel('Reason').fill('decommissioned');
    await agentRow.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Agent revoked.').waitFor();
    const check = await request(`${t.api.url}/api/v1/internal/agent-keys/verify`, {
      headers: { authorization: `Bearer ${t.serviceToken}` },
      body: { agent_key: agentKey },
    });
    expect(check.status).toBe(401);

    // A second enrollment stays pending for the auditor's turn.
    const code2 = await createCodeInBrowser(page, 'BROWSER', 'for the auditor');
    pendingForAuditor = await enrollAgent('BROWSER', code2, 'vma-browser-02', {});
    const codesPage = await page.getByRole('link', { name: 'Pairing codes' }).click().then(() => page.content());
    expect(codesPage).not.toContain(code2);

    // Audit: every step is there, newest first.
    await page.getByRole('link', { name: 'Audit' }).click();
    const events = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
    for (const e of ['operator.login', 'site.created', 'site.enrollment_key_rotated', 'pairing_code.created', 'enroll.created', 'verify.ok', 'enrollment.approved', 'agent.revoked']) {
      expect(events).toContain(e);
    }
    expect(events.indexOf('agent.revoked')).toBeLessThan(events.indexOf('enrollment.approved'));
    expect(events.indexOf('enrollment.approved')).toBeLessThan(events.lastIndexOf('enroll.created'));
    await page.getByLabel('Event type').fill('agent.revoked');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/event_type=agent.revoked/);
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.getByRole('link', { name: 'Audit' }).click();
    await shot(page, 'laptop-audit');

    await page.getByRole('link', { name: 'Lockouts' }).click();
    await page.getByText('Lockouts are not available here.').waitFor();
    await shot(page, 'laptop-lockouts');
    await page.getByRole('link', { name: 'Pairing codes' }).click();
    await shot(page, 'laptop-pairing-codes');
    await page.getByRole('link', { name: 'Sites' }).click();
    await shot(page, 'laptop-sites');
    await page.getByRole('link', { name: 'Pending' }).click();
    await shot(page, 'laptop-pending-one-waiting');

    // Sign out ends the session: the old page cannot come back.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    await page.goto('/console/pending');
    await page.waitForURL('**/console/sign-in');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('shows an auditor the same pages without buttons, and refuses its forged approve with 403', async () => {
    const ctx = await newContext(1366, 900);
    const page = await ctx.newPage();
    watch(page);
    await signIn(page, 'audrey');
    const row = page.getByRole('row').filter({ hasText: 'vma-browser-02' });
    await row.waitFor();
    for (const name of ['Approve', 'Reject', 'Revoke']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    await shot(page, 'laptop-auditor-pending');
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('row').filter({ hasText: 'vma-browser-01' }).waitFor();
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Audit' }).click();
    expect(await page.locator('tbody tr[data-event="operator.logout"]').count()).toBeGreaterThan(0);

    // The auditor's own session, its own valid CSRF token, same origin: still 403.
    const status = await page.evaluate(async (id) => {
      const token = document.querySelector('input[name="_csrf"]')?.value ?? '';
      const res = await fetch(`/console/pending/${id}/approve`, { method: 'POST', body: new URLSearchParams({ _csrf: token, notes: 'forged' }) });
      return res.status;
    }, pendingForAuditor.enrollmentId);
    expect(status).toBe(403);
    expect((await poll(pendingForAuditor.pollToken)).status).toBe(202);
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('rejects with a reason the agent is told', async () => {
    const ctx = await newContext(1366, 900);
    const page = await ctx.newPage();
    watch(page);
    await signIn(page, 'alice');
    const row = page.getByRole('row').filter({ hasText: 'vma-browser-02' });
    await row.getByLabel('Reason').fill('not ours');
    await row.getByRole('button', { name: 'Reject' }).click();
    await page.getByText('Rejected.').waitFor();
    const answer = await poll(pendingForAuditor.pollToken);
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('enrollment_rejected');
    expect(answer.body.error.message).toContain('not ours');
    await shot(page, 'laptop-pending-after-reject');
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('offers both answers to an identity collision, and approves a clone as a separate agent (issue 22)', async () => {
    await request(`${t.api.url}/api/v1/admin/sites`, { headers: { authorization: `Bearer ${t.adminToken}` }, body: { site_code: 'CLONES', name: 'Clones', policy: 'auto' } });
    const cek = (await request(`${t.api.url}/api/v1/admin/sites/CLONES/enrollment-key`, { headers: { authorization: `Bearer ${t.adminToken}` }, body: {} })).body.key as string;
    const byKey = async (hostname: string) => {
      const key = newAgentKey(hostname);
      const e = await request(`${t.api.url}/api/v1/enroll`, {
        body: { site_code: 'CLONES', enrollment_key: cek, public_key: key.publicKey, hostname, machine_uid: 'template-vm-uuid-0001' },
      });
      const v = await request(`${t.api.url}/api/v1/enroll/verify`, {
        body: { enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) },
      });
      return { status: v.body.status as string, pollToken: v.body.poll_token as string };
    };
    const original = await byKey('vm-template-a');
    expect(original.status).toBe('approved');
    const originalId = (await poll(original.pollToken)).body.agent_id as string;
    const clone = await byKey('vm-template-b');
    expect(clone.status).toBe('pending_confirmation');

    const ctx = await newContext(1366, 900);
    const page = await ctx.newPage();
    watch(page);
    await signIn(page, 'alice');
    const row = page.getByRole('row').filter({ hasText: 'vm-template-b' });
    await row.waitFor();
    await row.getByRole('button', { name: 'Approve and replace the key' }).waitFor();
    await shot(page, 'laptop-pending-collision');
    await row.getByRole('button', { name: 'Approve as a separate agent' }).click();
    await page.getByText('Approved as a separate agent.').first().waitFor();
    const collected = await poll(clone.pollToken);
    expect(collected.status).toBe(200);
    expect(collected.body.agent_id).not.toBe(originalId);
    await ctx.close();
  });

  it('Webhooks (issue 20): an admin adds one, sees its secret once, sends a test, sees it delivered, deletes it; an auditor has no link', async () => {
    const rx = await startReceiver();
    const ctx = await newContext(1366, 900);
    const page = await ctx.newPage();
    watch(page);
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('textbox', { name: 'URL' }).fill(rx.url);
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secret = (await page.locator('#new-secret').textContent())?.trim() ?? '';
    expect(secret).toMatch(/^whsec_/);
    await shot(page, 'laptop-webhooks-added');
    const card = page.getByRole('region', { name: `Webhook ${rx.url}` });
    await card.getByRole('button', { name: 'Send test' }).click();
    await page.getByText('Test event queued').waitFor();
    await expect.poll(() => rx.received.length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(signatureMatches(rx.received[0]!, secret)).toBe(true);
    // The page shows the delivery once recorded (a reload: this page does not refresh itself).
    await expect
      .poll(async () => {
        await page.goto('/console/webhooks');
        return page.getByRole('region', { name: `Webhook ${rx.url}` }).getByText('delivered').count();
      }, { timeout: 15_000 })
      .toBeGreaterThan(0);
    expect(await page.content()).not.toContain(secret.slice(6));
    await shot(page, 'laptop-webhooks-delivered');
    await page.getByRole('region', { name: `Webhook ${rx.url}` }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Webhook deleted.').waitFor();
    expect(await page.getByRole('region', { name: `Webhook ${rx.url}` }).count()).toBe(0);
    await ctx.close();

    const auditorCtx = await newContext(1366, 900);
    const auditorPage = await auditorCtx.newPage();
    watch(auditorPage);
    await signIn(auditorPage, 'audrey');
    expect(await auditorPage.getByRole('link', { name: 'Webhooks' }).count()).toBe(0);
    expect((await auditorPage.goto('/console/webhooks'))?.status()).toBe(403);
    expect(problems).toEqual([]);
    await auditorCtx.close();
    await rx.close();
  });

  it('fits a phone: every page at 390 px wide', async () => {
    const ctx = await newContext(390, 844);
    const page = await ctx.newPage();
    watch(page);
    await page.goto('/console/sign-in');
    await shot(page, 'phone-sign-in');
    await signIn(page, 'alice');
    const code = await createCodeInBrowser(page, 'BROWSER', 'phone');
    const agent = await enrollAgent('BROWSER', code, 'vma-phone-01', { rack: 'r4', role: 'migration' });
    expect(agent.enrollmentId).toMatch(/^[0-9a-f-]{36}$/);
    await page.goto('/console/pairing-codes');
    await shot(page, 'phone-pairing-codes');
    for (const [link, name] of [
      ['Pending', 'phone-pending'],
      ['Agents', 'phone-agents'],
      ['Sites', 'phone-sites'],
      ['Audit', 'phone-audit'],
      ['Lockouts', 'phone-lockouts'],
      ['Webhooks', 'phone-webhooks'],
    ] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1, name: link }).waitFor();
      // Nothing wider than the screen: no sideways scrolling of the page itself.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await shot(page, name);
    }
    expect(problems).toEqual([]);
    await ctx.close();
  });

  it('pages and filters the fleet from the URL, and switches tenant (issue 22)', async () => {
    expect((await t.admin('post', '/api/v1/admin/tenants').send({ tenant_code: 'browser-co', name: 'Browser Co' })).status).toBe(201);
    expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'FLEET-WEB', name: 'fleet', tenant_code: 'browser-co' })).status).toBe(201);
    const db = postgres(t.db?.url ?? '', { max: 1, onnotice: () => {} });
    await db`
      insert into agents (site_code, tenant_code, enrollment_id, public_key, fingerprint, hostname, status, created_by, created_at, labels)
      select 'FLEET-WEB', 'browser-co', gen_random_uuid(), 'ssh-ed25519 AAAA', ${`SHA256:${'B'.repeat(43)}`}, 'fleet-web-' || g, 'active', 'test',
             now() + g * interval '1 second', jsonb_build_object('company', 'Browser', 'rack', 'r' || (g % 2))
      from generate_series(1, 104) g`;
    await db.end();
    const ctx = await newContext(1366, 900);
    const page = await ctx.newPage();
    watch(page);
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.locator('#tenant-switch').selectOption('browser-co');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/tenant=browser-co/);
    await page.getByLabel('Label').fill('rack:r1');
    await page.getByLabel('Hostname').fill('fleet-web-');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/label=rack%3Ar1/);
    expect(page.url()).toContain('tenant=browser-co');
    expect(await page.locator('tbody tr').count()).toBe(52);
    expect(await page.locator('.label-chip', { hasText: 'rack=r1' }).count()).toBe(52);
    await shot(page, 'laptop-agents-filtered');
    // Unfiltered: a hundred on the first page, the rest one click on.
    await page.goto('/console/agents?tenant=browser-co');
    expect(await page.locator('tbody tr').count()).toBe(100);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/cursor=/);
    expect(await page.locator('tbody tr').count()).toBe(4);
    expect(problems).toEqual([]);
    await ctx.close();
  });
});
