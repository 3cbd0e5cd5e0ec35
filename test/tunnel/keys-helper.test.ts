/**
 * The keys helper (Perl), run the way sshd runs it (as the keys account,
 * empty environment), first against a scripted peer on its socket: it prints
 * only a complete answer for the offered key and fails closed on everything
 * else. Then the real keys service of a running endpoint: who may reach its
 * socket, no token on disk, and a caller that is not one of our sshd
 * sessions refused without asking the api.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseSshEd25519PublicKey, sshFingerprint } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollAndVerify, pollAfterInterval, startTestApi, type TestApi } from '@airlock/api/testing';
import { waitFor } from '@airlock/testing';
import { checkAccounts, HELPER_NAME, installKeysHelper } from '@airlock/tunnel/install';
import { cleanupTunnelDirs, createTunnelOperator, ensureAccounts, helperDir, KEYS_USER, startTunnel, type TunnelEndpoint } from './support.ts';

const run = promisify(execFile);
const A = '11111111-1111-4111-8111-111111111111';
const OPTIONS = 'restrict,port-forwarding,permitopen="127.0.0.1:10809",permitlisten="127.0.0.1:20417",command="/bin/false"';

/** As sshd does: as the keys user, with an almost empty environment. */
const callHelper = async (helper: string, args: string[], as = KEYS_USER) => {
  try {
    const r = await run('runuser', ['-u', as, '--', 'env', '-i', 'PATH=/usr/bin:/bin', helper, ...args], { timeout: 15_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

describe('the keys helper against a scripted peer', () => {
  let dir: string;
  let helper: string;
  let socketPath: string;
  let server: net.Server;
  const questions: string[] = [];
  /** What the peer answers next; null: it never answers. */
  let respond: (question: string) => string | null = () => 'ok 0';
  const key = parseSshEd25519PublicKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOXh07AQsQFRTln033avixUw4184I0GIiLTdsfdLtth2');
  const blob = key.canonical.split(' ')[1] ?? '';
  const fp = sshFingerprint(key.blob);
  const args = (timeout = '5') => [socketPath, timeout, 'airlock', fp, 'ssh-ed25519', blob];

  beforeAll(async () => {
    ensureAccounts();
    dir = helperDir();
    helper = await installKeysHelper({ helperDir: dir });
    const sockDir = helperDir();
    mkdirSync(sockDir, { mode: 0o750 });
    const keys = (await checkAccounts({ user: 'airlock', keysUser: KEYS_USER })).keys;
    chownSync(sockDir, 0, keys.gid);
    socketPath = path.join(sockDir, 'keys.sock');
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        if (!buf.includes('\n')) return;
        questions.push(buf.trimEnd());
        const answer = respond(buf);
        if (answer !== null) s.end(answer);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    chownSync(socketPath, 0, keys.gid);
    chmodSync(socketPath, 0o660);
  });
  afterAll(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(path.dirname(socketPath), { recursive: true, force: true });
  });

  it('is a root-owned script that needs no config and no token', () => {
    const h = statSync(helper);
    expect([h.uid, h.mode & 0o777]).toEqual([0, 0o755]);
    expect(path.basename(helper)).toBe(HELPER_NAME);
    expect(readdirSync(dir)).toEqual([HELPER_NAME]);
    expect(readFileSync(helper, 'utf8').split('\n')[0]).toBe('#!/usr/bin/perl -T');
  });

  it('asks with its parent PID and the offered key, and prints a complete answer', async () => {
    const line = `${OPTIONS} ssh-ed25519 ${blob} airlock-agent-${A}`;
    respond = () => `ok 1\n${line}\n`;
    const r = await callHelper(helper, args());
    expect(r).toMatchObject({ code: 0, stdout: `${line}\n` });
    expect(questions.at(-1)).toMatch(new RegExp(`^airlock-keys/1 \\d+ airlock ${fp.replace(/[+/]/g, '\\$&')} ssh-ed25519 ${blob.replace(/[+/]/g, '\\$&')}$`));
    respond = () => 'ok 0\n';
    expect(await callHelper(helper, args())).toMatchObject({ code: 0, stdout: '' });
  });

  it('prints nothing and exits 1 for a refusal or any answer it does not expect', async () => {
    const line = (opts: string, k = blob) => `${opts} ssh-ed25519 ${k} airlock-agent-${A}`;
    const other = 'AAAAC3NzaC1lZDI1NTE5AAAAIEOPBuKXNu8R1rtHsFGv4IegZf1l9vGo/LRJ+AwbF1co';
    const answers = [
      'deny\n',
      '',
      'ok 1\n',
      `ok 1\n${line(OPTIONS)}\n${line(OPTIONS)}\n`,
      `ok 1\n${line(OPTIONS, other)}\n`,
      `ok 1\n${line('restrict,port-forwarding,command="/bin/false"')}\n`,
      `ok 1\n${line('restrict,port-forwarding,permitopen="*:*",command="/bin/false"')}\n`,
      `ok 1\n${line('restrict,pty,port-forwarding,permitopen="127.0.0.1:1",command="/bin/false"')}\n`,
      `ok 1\n${line('port-forwarding,permitopen="127.0.0.1:1",command="/bin/false"')}\n`,
      // Issue 21: -R only on the agent's own loopback port; no line without a permitlisten, none on another address.
      `ok 1\n${line('restrict,port-forwarding,permitopen="127.0.0.1:10809",command="/bin/false"')}\n`,
      `ok 1\n${line('restrict,port-forwarding,permitopen="127.0.0.1:10809",permitlisten="0.0.0.0:20417",command="/bin/false"')}\n`,
      `ok 1\n${line('restrict,port-forwarding,permitopen="127.0.0.1:10809",permitlisten="*:*",command="/bin/false"')}\n`,
      `ok 1\n${line('restrict,port-forwarding,permitopen="127.0.0.1:10809",permitlisten="127.0.0.1:20417",permitlisten="127.0.0.1:20418",command="/bin/false"')}\n`,
      `ok 1\n${line(OPTIONS)} extra\n`,
      `ok 1\n${line(OPTIONS)}\nssh-ed25519 ${blob}\n`,
      `ok 1\n${line(OPTIONS)}\n${'x'.repeat(70_000)}\n`,
      `OK 1\n${line(OPTIONS)}\n`,
    ];
    for (const answer of answers) {
      respond = () => answer;
      const r = await callHelper(helper, args());
      expect(r.code, JSON.stringify(answer.slice(0, 80))).toBe(1);
      expect(r.stdout).toBe('');
    }
  });

  it('gives up after its timeout when nobody answers, and when nobody listens', async () => {
    respond = () => null;
    const silent = await callHelper(helper, args('1'));
    expect(silent).toMatchObject({ code: 1, stdout: '' });
    expect(silent.stderr).toContain('no answer in time');
    const gone = await callHelper(helper, [path.join(path.dirname(socketPath), 'nobody.sock'), '5', 'airlock', fp, 'ssh-ed25519', blob]);
    expect(gone).toMatchObject({ code: 1, stdout: '' });
    expect(gone.stderr).toContain('keys service unreachable');
  });

  it('refuses hostile arguments without asking or running anything', async () => {
    const marker = path.join(tmpdir(), `airlock-pwned-${process.pid}`);
    const before = questions.length;
    const hostile: string[][] = [
      [socketPath, '5', 'airlock', `SHA256:$(touch ${marker})`, 'ssh-ed25519', blob],
      [socketPath, '5', 'airlock', `\`touch ${marker}\``, 'ssh-ed25519', blob],
      [socketPath, '5', 'airlock', `${fp};touch ${marker}`, 'ssh-ed25519', blob],
      [socketPath, '5', 'airlock', `${fp}\nrestrict ssh-ed25519 AAAA`, 'ssh-ed25519', blob],
      [socketPath, '5', 'airlock', `SHA256:${'A'.repeat(100_000)}`, 'ssh-ed25519', blob],
      [socketPath, '5', 'airlock', fp, 'ssh-ed25519', `${blob}" evil`],
      [socketPath, '5', 'airlock', fp, 'ssh-ed25519 x', blob],
      [socketPath, '5', 'air lock', fp, 'ssh-ed25519', blob],
      [socketPath, '0', 'airlock', fp, 'ssh-ed25519', blob],
      [`${socketPath} x`, '5', 'airlock', fp, 'ssh-ed25519', blob],
      [socketPath, '5', 'airlock', fp, 'ssh-ed25519'],
      [socketPath, '5', 'airlock', fp, 'ssh-ed25519', blob, 'extra'],
      [],
    ];
    for (const a of hostile) {
      const r = await callHelper(helper, a);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(marker)).toBe(false);
    expect(questions.length).toBe(before);
  });

  it('cannot reach the socket from another account', async () => {
    const before = questions.length;
    const r = await callHelper(helper, args(), 'nobody');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(questions.length).toBe(before);
  });
});

describe('the keys service of a running endpoint', () => {
  let t: TestApi;
  let tunnel: TunnelEndpoint;
  let agent: { fingerprint: string; blob: string };
  const planted = `aop_${'p'.repeat(43)}`;

  beforeAll(async () => {
    ensureAccounts();
    t = await startTestApi({ env: { AIRLOCK_SSH_ENDPOINT: 'oma.example.com:443', AIRLOCK_SSH_PERMIT_OPEN: '127.0.0.1:10809' } });
    await createSite(t, 'KEYS');
    const e = await enrollAndVerify(t, 'KEYS');
    await t.admin('post', `/api/v1/admin/enrollments/${e.enrollmentId}/approve`).send({});
    await pollAfterInterval(t, e.pollToken);
    const pk = parseSshEd25519PublicKey(e.key.publicKey);
    agent = { fingerprint: sshFingerprint(pk.blob), blob: pk.canonical.split(' ')[1] ?? '' };
    // What an earlier version left in the helper directory: a Node helper and a file holding the api token.
    const dir = helperDir();
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(path.join(dir, 'airlock-keys.json'), JSON.stringify({ token: planted }), { mode: 0o640 });
    writeFileSync(path.join(dir, 'airlock-keys.cjs'), '// old helper\n', { mode: 0o755 });
    const token = await createTunnelOperator(async (method, p, body) => {
      const r = await t.admin(method.toLowerCase() as 'post', p).send(body as object);
      return { status: r.status, body: r.body };
    });
    tunnel = await startTunnel({ apiUrl: t.api.url, token, helper: dir, waitFor: 'tunnel listening' });
  });
  afterAll(async () => {
    await tunnel?.stop();
    if (tunnel) cleanupTunnelDirs(tunnel);
    await t?.close();
  });

  it('keeps no token on disk: the helper directory holds the helper alone', () => {
    expect(readdirSync(tunnel.helperDir)).toEqual([HELPER_NAME]);
    for (const f of readdirSync(tunnel.helperDir)) expect(readFileSync(path.join(tunnel.helperDir, f), 'utf8')).not.toContain('aop_');
  });

  it('listens where only root and the keys account can connect', () => {
    const keysGid = Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${KEYS_USER}:`))?.split(':')[3]);
    const sock = statSync(tunnel.keysSocket);
    expect(sock.isSocket()).toBe(true);
    expect([sock.uid, sock.gid, sock.mode & 0o777]).toEqual([0, keysGid, 0o660]);
    const d = statSync(path.dirname(tunnel.keysSocket));
    expect([d.uid, d.gid, d.mode & 0o777]).toEqual([0, keysGid, 0o750]);
  });

  it('refuses a caller that is not one of our sshd sessions, without asking the api', async () => {
    const lookups = () => t.logs.filter((l) => l.includes('/api/v1/internal/tunnel/authorized-keys')).length;
    const before = lookups();
    const helper = path.join(tunnel.helperDir, HELPER_NAME);
    const r = await callHelper(helper, [tunnel.keysSocket, '5', 'airlock', agent.fingerprint, 'ssh-ed25519', agent.blob]);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    // Root itself claiming the sshd listener's PID (root sshd, but no connection of ours) or PID 1.
    const listener = Number(tunnel.lines().find((l) => l.msg === 'sshd started')?.pid);
    for (const pid of [listener, 1, 4_000_000]) {
      const answer = await new Promise<string>((resolve) => {
        const s = net.connect(tunnel.keysSocket);
        let got = '';
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
        s.end(`airlock-keys/1 ${pid} airlock ${agent.fingerprint} ssh-ed25519 ${agent.blob}\n`);
      });
      expect(answer).toBe('deny\n');
    }
    expect(lookups()).toBe(before);
    await waitFor(() => tunnel.lines().filter((l) => l.msg === 'keys question from a process that is not one of our sshd sessions: refused').length >= 4, 'the refusals in the log');
  });
});
