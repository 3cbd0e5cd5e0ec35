/**
 * Setting console passwords: the admin route (and its abuse), and the real
 * CLI reading one line from a non-terminal standard input, both directly on
 * the database (DATABASE_URL) and through the admin API with a token.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { ConsoleClient } from '@airlock/testing';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const MAIN = path.join(REPO_ROOT, 'apps/cli/src/main.ts');

let t: TestApi;
beforeAll(async () => {
  // The tests play clients at many addresses through X-Forwarded-For, as the edge would report them:
  // loopback is the trusted proxy here (since issue 18 nothing is trusted unless configured).
  t = await startTestApi({ env: { API_TRUSTED_PROXIES: '127.0.0.1' } });
});
afterAll(async () => t.close());

/** Runs the real CLI with `input` piped on standard input (not a terminal). */
const airlock = (args: string[], input: string, env: Record<string, string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(TSX, [MAIN, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });

const canSignIn = async (name: string, password: string, ip: string) =>
  (await new ConsoleClient(t.api.url, { 'x-forwarded-for': ip }).signIn(name, password)).status === 303;

describe('POST /api/v1/admin/operators/{name}/password', () => {
  const setPw = (name: string, body: unknown, token = t.adminToken) =>
    fetch(`${t.api.url}/api/v1/admin/operators/${name}/password`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('sets a password an admin or auditor then signs in with, and ends their open sessions', async () => {
    expect((await setPw('audrey', { password: 'first password 123' })).status).toBe(200);
    const browser = new ConsoleClient(t.api.url, { 'x-forwarded-for': '10.9.0.1' });
    expect((await browser.signIn('audrey', 'first password 123')).status).toBe(303);
    expect((await browser.get('/console/audit')).status).toBe(200);
    const res = await setPw('audrey', { password: 'second password 456' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ name: 'audrey', role: 'auditor' });
    expect((await browser.get('/console/audit')).status).toBe(303);
    expect(await canSignIn('audrey', 'second password 456', '10.9.0.2')).toBe(true);
  });

  it('is refused to an auditor (403), and never echoes the password', async () => {
    const res = await setPw('alice', { password: 'auditor takes over' }, t.auditorToken);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('auditor takes over');
  });

  it('refuses short passwords, control characters, unknown fields and text/plain', async () => {
    const short = await setPw('alice', { password: 'short' });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { error: { fields: unknown } }).error.fields).toEqual({ password: 'must be at least 12 characters' });
    expect((await setPw('alice', { password: 'has a\nnewline inside' })).status).toBe(400);
    expect((await setPw('alice', { password: 'long enough password', role: 'admin' })).status).toBe(400);
    const plain = await fetch(`${t.api.url}/api/v1/admin/operators/alice/password`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ password: 'long enough password' }),
    });
    expect(plain.status).toBe(415);
  });

  it('refuses a service operator (409) and an unknown one (404)', async () => {
    const service = await setPw('mgmt', { password: 'service password 1' });
    expect(service.status).toBe(409);
    expect(((await service.json()) as { error: { code: string } }).error.code).toBe('invalid_state');
    expect((await setPw('nobody', { password: 'nobody password 1' })).status).toBe(404);
  });
});

describe('pnpm airlock operators set-password NAME', () => {
  it('reads one line from a pipe, no prompt and no confirmation, straight into the database', async () => {
    const run = await airlock(['operators', 'set-password', 'alice'], 'piped password one\n', { DATABASE_URL: t.db?.url ?? '' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('set the console password of admin operator alice');
    expect(run.stdout).not.toContain('piped password one');
    expect(await canSignIn('alice', 'piped password one', '10.9.1.1')).toBe(true);
  });

  it('goes through the admin API with a token when DATABASE_URL is unset', async () => {
    const run = await airlock(['operators', 'set-password', 'alice'], 'through the api 2\n', { AIRLOCK_API_URL: t.api.url, AIRLOCK_TOKEN: t.adminToken });
    expect(run.code).toBe(0);
    expect(await canSignIn('alice', 'through the api 2', '10.9.1.2')).toBe(true);
  });

  it('refuses more than one line, and a password the policy refuses, without changing anything', async () => {
    const two = await airlock(['operators', 'set-password', 'alice'], 'first line here\nsecond line here\n', { DATABASE_URL: t.db?.url ?? '' });
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('expected exactly one line');
    const short = await airlock(['operators', 'set-password', 'alice'], 'short\n', { DATABASE_URL: t.db?.url ?? '' });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('at least 12 characters');
    expect(await canSignIn('alice', 'through the api 2', '10.9.1.3')).toBe(true);
  });
});

describe('on a terminal', () => {
  it('asks twice and echoes nothing (a real pseudo-terminal via script(1))', async () => {
    const cmd = `${TSX} ${MAIN} operators set-password alice`;
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: t.db?.url ?? '', TERM: 'dumb' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let text = '';
      let answered = 0;
      const onData = (d: Buffer) => {
        text += d.toString();
        // Answer each prompt as it appears, as a person would.
        const prompts = (text.match(/New console password: |Repeat it: /g) ?? []).length;
        while (answered < prompts) {
          answered++;
          child.stdin.write('typed at a tty 7\r');
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', (code) => resolve({ code: code ?? -1, text }));
    });
    expect(out.text).toContain('New console password: ');
    expect(out.text).toContain('Repeat it: ');
    expect(out.text).not.toContain('typed at a tty 7');
    expect(out.code).toBe(0);
    expect(await canSignIn('alice', 'typed at a tty 7', '10.9.2.1')).toBe(true);
  });
});

describe('on the embedded database (PGlite)', () => {
  it('sets a password through the admin API and signs in', async () => {
    const e = await startTestApi({ embedded: true });
    try {
      const res = await fetch(`${e.api.url}/api/v1/admin/operators/alice/password`, {
        method: 'POST',
        headers: { authorization: `Bearer ${e.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ password: 'embedded password 1' }),
      });
      expect(res.status).toBe(200);
      const browser = new ConsoleClient(e.api.url);
      expect((await browser.signIn('alice', 'wrong password here')).status).toBe(401);
      expect((await browser.signIn('alice', 'embedded password 1')).status).toBe(303);
      expect((await browser.get('/console/pending')).status).toBe(200);
    } finally {
      await e.close();
    }
  });
});
