/**
 * The README as a new user meets it: the curl quickstart runs as printed
 * (only the api address and the pairing code filled in) and writes nothing
 * into the checkout; `pnpm start` stops cleanly on Ctrl-C; `pnpm airlock`
 * before any install says what to do; no document outside the repo is named.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT } from '../apps/edge/src/testing/harness.ts';
import { createSite, enrollAndVerify, pollAfterInterval, status } from '../apps/api/test/flows.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { createTestDatabase } from './helpers/db.ts';

const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

/** The first ```sh block after a heading. */
const snippetAfter = (heading: string): string => {
  const from = README.indexOf(heading);
  expect(from, heading).toBeGreaterThanOrEqual(0);
  const m = /```sh\n([\s\S]*?)```/.exec(README.slice(from));
  if (!m?.[1]) throw new Error(`no sh block after ${heading}`);
  return m[1];
};

const sh = (script: string, env: Record<string, string>, cwd = REPO_ROOT) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('bash', ['-c', script], { cwd, env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
}, 60_000);
afterAll(async () => t?.close());

describe('README curl quickstart', () => {
  it('runs as printed in a scratch directory, approves through pnpm airlock, and collects the key', async () => {
    expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'ACME-PHX', name: 'Phoenix DC' })).status).toBe(201);
    const code = await t.admin('post', '/api/v1/admin/pairing-codes').send({ site_code: 'ACME-PHX' });
    const snippet = snippetAfter('### Enroll with curl and ssh-keygen');
    expect(snippet).toContain('API=http://127.0.0.1:8082\n');
    expect(snippet).toContain('CODE=XXXX-XXXX-XXXX');
    const script = snippet.replace('API=http://127.0.0.1:8082\n', `API=${t.api.url}\n`).replace('CODE=XXXX-XXXX-XXXX', `CODE=${code.body.code}`);
    const before = readdirSync(REPO_ROOT).sort();
    const r = await sh(script, { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/"status":"awaiting_approval"/);
    expect(r.stdout).toMatch(/approved enrollment [0-9a-f-]{36}/);
    const answer = /\{"status":"approved".*\}/.exec(r.stdout)?.[0] ?? '';
    expect(JSON.parse(answer).credentials.agent_key).toMatch(/^cak_/);
    // Nothing landed in the checkout.
    expect(readdirSync(REPO_ROOT).sort()).toEqual(before);
  }, 120_000);

  it('stops at the first failure: a used pairing code ends the script with curl exit 22', async () => {
    const code = await t.admin('post', '/api/v1/admin/pairing-codes').send({ site_code: 'ACME-PHX' });
    const snippet = snippetAfter('### Enroll with curl and ssh-keygen').replace('API=http://127.0.0.1:8082\n', `API=${t.api.url}\n`);
    const once = snippet.replace('CODE=XXXX-XXXX-XXXX', `CODE=${code.body.code}`);
    const used = await sh(`${once.split('ID=$(')[0]})`, {});
    expect(used.code).toBe(0);
    const again = await sh(once, { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken });
    expect(again.code).toBe(22);
    expect(again.stderr).toContain('401');
    expect(again.stdout).not.toContain('approved enrollment');
  }, 120_000);

  it('says what the api does: an immediate second read is 429 slow_down, a later one 410', async () => {
    expect(README).toContain('read again at once and the answer is `429 slow_down`');
    expect(README).toContain('read again after waiting and it is\n`410 credentials_already_issued`');
    await createSite(t, 'SLOW-DOWN');
    const waiting = await enrollAndVerify(t, 'SLOW-DOWN');
    expect((await t.admin('post', `/api/v1/admin/enrollments/${waiting.enrollmentId}/approve`).send({})).status).toBe(200);
    const first = await pollAfterInterval(t, waiting.pollToken);
    expect(first.status).toBe(200);
    const atOnce = await status(t, waiting.pollToken);
    expect(atOnce.status).toBe(429);
    expect(atOnce.body.error.code).toBe('slow_down');
    const later = await pollAfterInterval(t, waiting.pollToken, 15);
    expect(later.status).toBe(410);
    expect(later.body.error.code).toBe('credentials_already_issued');
  });
});

describe('pnpm start', () => {
  it('exits 0 on Ctrl-C (SIGINT to the process group), without pnpm ELIFECYCLE', async () => {
    const db = await createTestDatabase('airlock_test_readme_start');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-readme-start-'));
    try {
      const env = {
        ...process.env,
        DATABASE_URL: db.url,
        AIRLOCK_DATA_DIR: dataDir,
        API_PORT: String(await freePort()),
        EDGE_PORT: String(await freePort()),
        EDGE_HOST: '127.0.0.1',
        API_METRICS_PORT: '0',
        EDGE_METRICS_PORT: '0',
      };
      // detached: its own process group, as a terminal's foreground job is.
      const child = spawn('pnpm', ['start'], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      const deadline = Date.now() + 90_000;
      while (!out.includes('Airlock is running.') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
      expect(out).toContain('Airlock is running.');
      process.kill(-(child.pid ?? 0), 'SIGINT');
      const code = await exited;
      expect(code).toBe(0);
      expect(out).not.toContain('ELIFECYCLE');
    } finally {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 150_000);
});

describe('before any install', () => {
  it('pnpm airlock says to install first instead of failing with tsx: not found', async () => {
    const fresh = mkdtempSync(path.join(tmpdir(), 'airlock-fresh-'));
    try {
      cpSync(path.join(REPO_ROOT, 'bin'), path.join(fresh, 'bin'), { recursive: true });
      mkdirSync(path.join(fresh, 'apps', 'api'), { recursive: true });
      expect(existsSync(path.join(fresh, 'node_modules'))).toBe(false);
      const r = await sh('sh bin/airlock help', {}, fresh);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`airlock: dependencies are not installed: run 'pnpm install' in ${fresh} first (README: The two commands)\n`);
      expect(r.stderr).not.toContain('tsx');
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

describe('README references', () => {
  it('names no document outside the repository, and every relative link resolves', () => {
    expect(README).not.toMatch(/CONTRACT\.md|STYLE\.md|\/work\/|shared\//);
    expect(README).not.toMatch(/contract document|design card/i);
    for (const m of README.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)) {
      const target = m[1] ?? '';
      if (/^[a-z]+:/.test(target)) continue;
      expect(existsSync(path.join(REPO_ROOT, target)), target).toBe(true);
    }
  });
});
