/**
 * The console's "Rotate key and download installer" (issue 23): admins only,
 * CSRF-checked, the key and the installer in that one response, the same
 * validation as the admin API, and no rotation when the form is refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient } from '@airlock/testing';
import { createSite, startTestApi, type TestApi } from '@airlock/api/testing';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';

const PW = 'installer console password';
const PIN = `sha256:${'cd'.repeat(32)}`;
let t: TestApi;
let dir: string;
let admin: ConsoleClient;
let auditor: ConsoleClient;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-console-installer-'));
  writeFileSync(path.join(dir, 'agent.mjs'), 'console.log("stand-in agent bundle");\n');
  t = await startTestApi({ env: { AIRLOCK_AGENT_BUNDLE: path.join(dir, 'agent.mjs') } });
  await setOperatorPassword(t.api.deps.db, t.clock, 'alice', PW, 'test', null);
  await setOperatorPassword(t.api.deps.db, t.clock, 'audrey', PW, 'test', null);
  admin = new ConsoleClient(t.api.url);
  auditor = new ConsoleClient(t.api.url);
  expect((await admin.signIn('alice', PW)).status).toBe(303);
  expect((await auditor.signIn('audrey', PW)).status).toBe(303);
  await admin.get('/console/sites');
  await auditor.get('/console/sites');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const keyVersion = async (site: string) => {
  const r = await t.admin('get', `/api/v1/admin/sites/${site}/enrollment-key`);
  return r.status === 200 ? (r.body.version as number) : null;
};

describe('console: rotate key and download installer', () => {
  it('offers the form to admins and answers the key and the installer once', async () => {
    await createSite(t, 'CON-INST', 'auto');
    expect((await admin.get('/console/sites')).text).toContain('Rotate key and download installer');
    const r = await admin.post('/console/sites/CON-INST/installer', { server: 'https://airlock.example.net', trust: PIN, ca_pem: '' });
    expect(r.status).toBe(201);
    const key = /id="new-key">\s*(cek_[A-Za-z0-9_-]{43})/.exec(r.text)?.[1];
    expect(key).toBeDefined();
    const link = /download="(airlock-agent-CON-INST-v1-[0-9A-F]{4}\.run)" href="data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)"/.exec(r.text);
    expect(link).not.toBeNull();
    const file = Buffer.from(link?.[2] ?? '', 'base64').toString('utf8');
    expect(file).toContain(`AIRLOCK_KEY='${key}'`);
    expect(file).toContain(`AIRLOCK_PIN='${PIN}'`);
    expect(await keyVersion('CON-INST')).toBe(1);
    // Not on a later page.
    const later = await admin.get('/console/sites');
    expect(later.text).not.toContain(key);
    expect(later.text).not.toContain('data:application/octet-stream');
  });

  it('shows auditors no form and refuses their post (403) without rotating', async () => {
    await createSite(t, 'CON-AUD', 'auto');
    expect((await auditor.get('/console/sites')).text).not.toContain('Rotate key and download installer');
    const r = await auditor.post('/console/sites/CON-AUD/installer', { server: 'https://airlock.example.net', trust: PIN });
    expect(r.status).toBe(403);
    expect(await keyVersion('CON-AUD')).toBeNull();
  });

  it('refuses a missing CSRF token and a hostile server address before any rotation', async () => {
    await createSite(t, 'CON-BAD', 'auto');
    expect((await admin.post('/console/sites/CON-BAD/installer', { server: 'https://a.example', trust: PIN }, { noCsrf: true })).status).toBe(403);
    const hostile = await admin.post('/console/sites/CON-BAD/installer', { server: "https://a.example';reboot;'", trust: PIN });
    expect(hostile.status).toBe(400);
    expect((await admin.post('/console/sites/CON-BAD/installer', { server: 'https://a.example', trust: '' })).status).toBe(400);
    expect(await keyVersion('CON-BAD')).toBeNull();
  });
});
