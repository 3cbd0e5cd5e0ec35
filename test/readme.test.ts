/**
 * The documentation as a new user meets it, its commands run as printed:
 * the README's five-minute quickstart on a real `pnpm start` (only the
 * ports, the pin, the pairing code, the enrollment id and the state
 * directory filled in), then Ctrl-C stops it cleanly; the curl walk-through
 * of docs/quickstart.md (only the api address and the pairing code filled
 * in) writes nothing into the checkout; `pnpm airlock` before any install
 * says what to do. Blocks are found by the heading they sit under, in
 * whichever page they live (test/helpers/markdown.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, freePort, REPO_ROOT, type TestDatabase } from '@airlock/testing';
import { createSite, enrollAndVerify, pollAfterInterval, startTestApi, status, type TestApi } from '@airlock/api/testing';
import { shBlocksUnder } from './helpers/markdown.ts';

const page = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8');

/** The sh blocks under a heading of a page, in order; fails the test when the heading is gone. */
const snippetsUnder = (file: string, heading: string): string[] => {
  const blocks = shBlocksUnder(page(file), heading);
  expect(blocks.length, `${file}: ${heading}`).toBeGreaterThan(0);
  return blocks;
};

/** `text` with each placeholder replaced; a placeholder missing from the snippet fails the test (the docs moved on). */
const fill = (text: string, values: Record<string, string>): string =>
  Object.entries(values).reduce((t, [placeholder, value]) => {
    expect(t, `the snippet no longer contains ${placeholder}`).toContain(placeholder);
    return t.split(placeholder).join(value);
  }, text);

const sh = (script: string, env: Record<string, string>, cwd = REPO_ROOT) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('bash', ['-c', script], { cwd, env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });

/** A command left running, as in a second terminal: its own process group, output collected. */
const background = (script: string, env: Record<string, string>) => {
  const child = spawn('bash', ['-c', script], { cwd: REPO_ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const until = async (text: string, ms: number) => {
    const deadline = Date.now() + ms;
    while (!out.includes(text) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    expect(out, `waiting for "${text}"`).toContain(text);
  };
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid ?? 0), 'SIGKILL');
  };
  return { child, out: () => out, exited, until, stop };
};

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
}, 60_000);
afterAll(async () => t?.close());

describe('docs/quickstart.md: the curl walk-through', () => {
  it('runs as printed in a scratch directory, approves through pnpm airlock, and collects the key', async () => {
    expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: 'ACME-PHX', name: 'Phoenix DC' })).status).toBe(201);
    const code = await t.admin('post', '/api/v1/admin/pairing-codes').send({ site_code: 'ACME-PHX' });
    const [snippet = ''] = snippetsUnder('docs/quickstart.md', 'Enroll with curl and ssh-keygen');
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
    const snippet = (snippetsUnder('docs/quickstart.md', 'Enroll with curl and ssh-keygen')[0] ?? '').replace('API=http://127.0.0.1:8082\n', `API=${t.api.url}\n`);
    const once = snippet.replace('CODE=XXXX-XXXX-XXXX', `CODE=${code.body.code}`);
    const used = await sh(`${once.split('ID=$(')[0]})`, {});
    expect(used.code).toBe(0);
    const again = await sh(once, { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken });
    expect(again.code).toBe(22);
    expect(again.stderr).toContain('401');
    expect(again.stdout).not.toContain('approved enrollment');
  }, 120_000);

  it('says what the api does: an immediate second read is 429 slow_down, a later one 410', async () => {
    const doc = page('docs/quickstart.md');
    expect(doc).toContain('read again at once and the answer is `429 slow_down`');
    expect(doc).toContain('read again after waiting and it is\n`410 credentials_already_issued`');
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

describe('pnpm start and the README five-minute quickstart', () => {
  let db: TestDatabase;
  let dataDir: string;
  let start: ReturnType<typeof background>;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('airlock_test_readme_start');
    dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-readme-start-'));
    env = {
      DATABASE_URL: db.url,
      AIRLOCK_DATA_DIR: dataDir,
      API_PORT: String(await freePort()),
      EDGE_PORT: String(await freePort()),
      EDGE_HOST: '127.0.0.1',
      API_METRICS_PORT: '0',
      EDGE_METRICS_PORT: '0',
    };
    const [first = ''] = snippetsUnder('README.md', 'Five-minute quickstart');
    expect(first.trim().split(/\s+#/)[0]).toBe('pnpm start');
    // detached: its own process group, as a terminal's foreground job is.
    start = background('exec pnpm start', env);
    await start.until('Airlock is running.', 90_000);
  }, 150_000);

  afterAll(async () => {
    start?.stop();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs as printed: a site and a code, the agent through the edge, pending and approve, status', async () => {
    const [, operator = '', appliance = '', approve = '', statusBlock = ''] = snippetsUnder('README.md', 'Five-minute quickstart');
    const edgeUrl = /edge \(agents enroll here\): (https:\/\/\S+)/.exec(start.out())?.[1] ?? '';
    const pin = /edge certificate pin: +(sha256:[0-9a-f]{64})/i.exec(start.out())?.[1] ?? '';
    expect(edgeUrl).toBe(`https://127.0.0.1:${env.EDGE_PORT}`);
    expect(pin).not.toBe('');
    // What a new user's shell has: the api and the token file pnpm start wrote, found by their defaults' variables.
    const cli = { AIRLOCK_API_URL: `http://127.0.0.1:${env.API_PORT}`, AIRLOCK_DATA_DIR: dataDir };
    const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-readme-agent-'));
    const before = readdirSync(REPO_ROOT).sort();
    let agent: ReturnType<typeof background> | undefined;
    try {
      const made = await sh(operator, cli);
      expect(made.code, made.stderr).toBe(0);
      const code = [...made.stdout.matchAll(/^([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$/gm)].at(-1)?.[1] ?? '';
      expect(code).not.toBe('');

      agent = background(
        fill(appliance, { 'https://127.0.0.1:8443': edgeUrl, 'sha256:<pin printed by pnpm start>': pin, 'XXXX-XXXX-XXXX': code, './agent-state': stateDir }),
        {},
      );
      await agent.until('Ask your operator to approve', 90_000);
      const fingerprint = /approve (SHA256:[A-Za-z0-9+/]{43})/.exec(agent.out())?.[1] ?? '';
      const id = /Enrollment requested \(id ([0-9a-f-]{36})\)/.exec(agent.out())?.[1] ?? '';
      expect(fingerprint).not.toBe('');

      const decided = await sh(fill(approve, { '<enrollment id>': id }), cli);
      expect(decided.code, decided.stderr).toBe(0);
      expect(decided.stdout).toContain(fingerprint);
      expect(decided.stdout).toMatch(/approved enrollment [0-9a-f-]{36}/);

      expect(await agent.exited, agent.out()).toBe(0);
      expect(agent.out()).toMatch(/Approved: enrolled as agent [0-9a-f-]{36}/);
      const credentials = JSON.parse(readFileSync(path.join(stateDir, 'credentials.json'), 'utf8')) as { agent_key: string; agent_id: string };
      expect(credentials.agent_key).toMatch(/^cak_/);
      expect(existsSync(path.join(stateDir, 'tls', 'cert.pem'))).toBe(true);

      const shown = await sh(fill(statusBlock, { './agent-state': stateDir }), {});
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toContain(credentials.agent_id);
      expect(shown.stdout).not.toContain(credentials.agent_key);
      // Nothing landed in the checkout.
      expect(readdirSync(REPO_ROOT).sort()).toEqual(before);
    } finally {
      agent?.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('exits 0 on Ctrl-C (SIGINT to the process group), without pnpm ELIFECYCLE', async () => {
    expect(start.out()).toContain('Airlock is running.');
    process.kill(-(start.child.pid ?? 0), 'SIGINT');
    const code = await start.exited;
    expect(code).toBe(0);
    expect(start.out()).not.toContain('ELIFECYCLE');
  }, 60_000);
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
