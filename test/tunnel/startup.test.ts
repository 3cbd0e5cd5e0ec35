/**
 * The endpoint refusing to start, each time with the fix in the message
 * (issue 18: findings 6 and 9; issue 19: a missing sshd), and its api client
 * sending nothing, token included, to an api whose certificate does not
 * match TUNNEL_API_PIN.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSelfSignedCert } from '@airlock/crypto';
import { freePort, type ManagedProcess, spawnManaged, waitFor } from '@airlock/testing';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { cleanupTunnelDirs, createTunnelOperator, ensureAccounts, helperDir, keysSocketPath, startTunnel } from './support.ts';

let t: TestApi;
let tunnelToken: string;
const dirs: string[] = [];

const admin = async (method: string, p: string, body?: unknown) => {
  const r = await t.admin(method.toLowerCase() as 'get' | 'post', p).send(body as object);
  return { status: r.status, body: r.body };
};

/** The endpoint's process with a fresh data, helper and socket directory. */
const spawnTunnel = async (env: Record<string, string>): Promise<ManagedProcess> => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-tunnel-start-'));
  const helper = helperDir();
  const socket = keysSocketPath();
  dirs.push(dataDir, helper, path.dirname(socket));
  return spawnManaged(['apps/tunnel/src/main.ts'], {
    TUNNEL_HOST: '127.0.0.1',
    TUNNEL_PORT: String(await freePort()),
    TUNNEL_API_URL: t.api.url,
    TUNNEL_API_TOKEN: tunnelToken,
    AIRLOCK_DATA_DIR: dataDir,
    TUNNEL_HELPER_DIR: helper,
    TUNNEL_KEYS_SOCKET: socket,
    TUNNEL_METRICS_PORT: '0',
    ...env,
  });
};

const exitOf = async (p: ManagedProcess): Promise<number | null> => {
  await waitFor(() => p.child.exitCode !== null, 'the endpoint to exit', 30_000);
  return p.child.exitCode;
};

beforeAll(async () => {
  ensureAccounts();
  t = await startTestApi({ env: { AIRLOCK_SSH_ENDPOINT: 'oma.example.com:443', AIRLOCK_SSH_PERMIT_OPEN: '127.0.0.1:10809' } });
  tunnelToken = await createTunnelOperator(admin);
});
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await t?.close();
});

describe('the endpoint stops at start, saying what to do', () => {
  it('with a service token (the role it needed before issue 18)', async () => {
    const p = await spawnTunnel({ TUNNEL_API_TOKEN: t.serviceToken });
    expect(await exitOf(p)).toBe(1);
    expect(p.output()).toContain('TUNNEL_API_TOKEN may not call the tunnel routes');
    expect(p.output()).toContain('pnpm airlock operators create --name tunnel --role tunnel');
    // Before sshd ever ran.
    expect(p.output()).not.toContain('"msg":"sshd started"');
  });

  it('with a token the api does not know', async () => {
    const p = await spawnTunnel({ TUNNEL_API_TOKEN: `aop_${'x'.repeat(43)}` });
    expect(await exitOf(p)).toBe(1);
    expect(p.output()).toContain('the api did not accept TUNNEL_API_TOKEN');
  });

  it('when sshd is not installed (issue 19)', async () => {
    const p = await spawnTunnel({ TUNNEL_SSHD: '/nonexistent/sbin/sshd' });
    expect(await exitOf(p)).toBe(1);
    expect(p.output()).toContain('airlock-tunnel: sshd not found at /nonexistent/sbin/sshd: install openssh-server');
    expect(p.output()).not.toContain('sshd -t rejected');
  });

  it('when the installed sshd predates PermitListen / permitlisten (issue 21)', async () => {
    // A stand-in for an OpenSSH older than 7.8: it rejects the config as that sshd does.
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-old-sshd-'));
    dirs.push(dir);
    const oldSshd = path.join(dir, 'sshd');
    writeFileSync(oldSshd, '#!/bin/sh\necho "$4 line 60: Bad configuration option: PermitListen" >&2\nexit 255\n', { mode: 0o755 });
    const p = await spawnTunnel({ TUNNEL_SSHD: oldSshd });
    expect(await exitOf(p)).toBe(1);
    expect(p.output()).toContain(`airlock-tunnel: ${oldSshd} does not support PermitListen / permitlisten (OpenSSH 7.8 or later`);
    expect(p.output()).toContain('upgrade openssh-server');
    expect(p.output()).not.toContain('"msg":"sshd started"');
  });

  it('when the api is plain http:// on another host', async () => {
    const p = await spawnTunnel({ TUNNEL_API_URL: 'http://192.0.2.10:8082' });
    // Exit 2, a configuration problem, as every app exits on one since issue 19 (it was 1 here, 2 at the api).
    expect(await exitOf(p)).toBe(2);
    expect(p.output()).toContain('TUNNEL_API_URL: http:// to 192.0.2.10 would send the tunnel token');
    expect(p.output()).toContain('TUNNEL_API_ALLOW_PLAINTEXT=1');
  });

  it('when an admin retired its host key; a new key brings it back', async () => {
    const first = await startTunnel({ apiUrl: t.api.url, token: tunnelToken });
    const dataDir = first.dataDir;
    const keyFile = path.join(dataDir, 'tunnel', 'ssh_host_ed25519_key');
    const fingerprint = (await admin('GET', '/api/v1/admin/tunnel/host-keys')).body.items.find(
      (k: { public_key: string }) => k.public_key === readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '),
    ).fingerprint as string;
    expect(await first.stop()).toBe(0);
    expect((await admin('POST', '/api/v1/admin/tunnel/host-keys/retire', { fingerprint })).status).toBe(200);
    try {
      const again = await spawnTunnel({ AIRLOCK_DATA_DIR: dataDir });
      expect(await exitOf(again)).toBe(1);
      expect(again.output()).toContain("the api refuses this endpoint's host key: an operator retired it");
      expect(again.output()).not.toContain('"msg":"sshd started"');
      // The documented way back: a new host key, made on the next start.
      rmSync(keyFile);
      rmSync(`${keyFile}.pub`);
      const fresh = await startTunnel({ apiUrl: t.api.url, token: tunnelToken, dataDir });
      expect(await fresh.stop()).toBe(0);
      cleanupTunnelDirs(fresh);
    } finally {
      cleanupTunnelDirs(first);
    }
  });
});

describe('TLS to the api (issue 18, finding 9)', () => {
  let server: tls.Server;
  let port: number;
  let certSha256: string;
  const received: string[] = [];
  let connections = 0;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-tunnel-tls-'));
    dirs.push(dir);
    const cert = await ensureSelfSignedCert(dir);
    certSha256 = cert.fingerprint256.replaceAll(':', '').toLowerCase();
    // A TLS listener that records every byte of application data it is sent, and refuses with the envelope.
    server = tls.createServer({ cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) }, (s) => {
      s.on('data', (d: Buffer) => {
        received.push(d.toString('utf8'));
        const body = '{"error":{"code":"forbidden","message":"The service role may not do this"}}';
        s.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      });
      s.on('error', () => {});
    });
    server.on('connection', () => connections++);
    port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  });
  afterAll(() => server?.close());

  it('sends nothing, token included, to an api whose certificate does not match the pin', async () => {
    const wrong = `sha256:${randomBytes(32).toString('hex')}`;
    const p = await spawnTunnel({ TUNNEL_API_URL: `https://127.0.0.1:${port}`, TUNNEL_API_PIN: wrong });
    try {
      await waitFor(() => p.output().includes('does not match TUNNEL_API_PIN'), 'the pin mismatch in the log');
      // It did connect (and saw the certificate), then wrote nothing.
      expect(connections).toBeGreaterThan(0);
      expect(received).toEqual([]);
    } finally {
      await p.stop();
    }
  });

  it('talks to it once the pin matches (so the test above could have seen a token)', async () => {
    const p = await spawnTunnel({ TUNNEL_API_URL: `https://127.0.0.1:${port}`, TUNNEL_API_PIN: `sha256:${certSha256}` });
    expect(await exitOf(p)).toBe(1);
    expect(received.join('')).toContain(`authorization: Bearer ${tunnelToken}`);
    expect(p.output()).toContain('TUNNEL_API_TOKEN may not call the tunnel routes');
  });
});
