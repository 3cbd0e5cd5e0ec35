/**
 * The installed keys helper, run the way sshd runs it (as the keys account,
 * minimal environment) against a real api: output, permissions, hostile
 * arguments, failing closed, and its per-call latency.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseSshEd25519PublicKey, sshFingerprint } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/helpers/api.ts';
import { ensureAccounts, helperDir, KEYS_USER } from '../../../test/tunnel/support.ts';
import { createSite, enrollAndVerify, pollAfterInterval } from '../../api/test/flows.ts';
import { freePort } from '../../edge/src/testing/harness.ts';
import { loadTunnelConfig, type TunnelConfig } from './env.ts';
import { checkAccounts, HELPER_CONFIG, HELPER_NAME, installKeysHelper, SetupError } from './install.ts';

const run = promisify(execFile);

let t: TestApi;
let dir: string;
let helper: string;
let config: TunnelConfig;
let agent: { id: string; fingerprint: string; blob: string };

/** As sshd does: as the keys user, with an almost empty environment. */
const callHelper = async (args: string[], as = KEYS_USER, file = helper) => {
  try {
    const r = await run('runuser', ['-u', as, '--', 'env', '-i', 'PATH=/usr/bin:/bin', file, ...args], { timeout: 15_000 });
    return { code: 0, stdout: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '' };
  }
};

const lookups = () => t.logs.filter((l) => l.includes('/api/v1/internal/tunnel/authorized-keys')).length;

beforeAll(async () => {
  ensureAccounts();
  t = await startTestApi({ env: { AIRLOCK_SSH_ENDPOINT: 'oma.example.com:443', AIRLOCK_SSH_PERMIT_OPEN: '127.0.0.1:10809,[::1]:8081' } });
  await createSite(t, 'KEYS');
  const e = await enrollAndVerify(t, 'KEYS');
  await t.admin('post', `/api/v1/admin/enrollments/${e.enrollmentId}/approve`).send({});
  const s = await pollAfterInterval(t, e.pollToken);
  const pk = parseSshEd25519PublicKey(e.key.publicKey);
  agent = { id: s.body.agent_id, fingerprint: sshFingerprint(pk.blob), blob: pk.canonical.split(' ')[1] ?? '' };
  dir = helperDir();
  config = loadTunnelConfig({ TUNNEL_API_URL: t.api.url, TUNNEL_API_TOKEN: t.serviceToken, TUNNEL_HELPER_DIR: dir, AIRLOCK_DATA_DIR: tmpdir() });
  helper = await installKeysHelper(config, await checkAccounts(config));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t.close();
});

describe('the installed keys helper', () => {
  it('is root-owned with a token file only the keys account can read', () => {
    const h = statSync(helper);
    expect([h.uid, h.mode & 0o777]).toEqual([0, 0o755]);
    const c = statSync(path.join(dir, HELPER_CONFIG));
    expect([c.uid, c.mode & 0o777]).toEqual([0, 0o640]);
    expect(path.basename(helper)).toBe(HELPER_NAME);
  });

  it('prints the active agent key restricted to permit_open, with no shell', async () => {
    const r = await callHelper(['airlock', agent.fingerprint, 'ssh-ed25519', agent.blob]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `restrict,port-forwarding,permitopen="127.0.0.1:10809",permitopen="[::1]:8081",command="/bin/false" ssh-ed25519 ${agent.blob} airlock-agent-${agent.id}\n`,
    );
  });

  it('prints nothing for a revoked agent', async () => {
    const e = await enrollAndVerify(t, 'KEYS');
    await t.admin('post', `/api/v1/admin/enrollments/${e.enrollmentId}/approve`).send({});
    const s = await pollAfterInterval(t, e.pollToken);
    const pk = parseSshEd25519PublicKey(e.key.publicKey);
    await t.admin('post', `/api/v1/admin/agents/${s.body.agent_id}/revoke`).send({});
    const r = await callHelper(['airlock', sshFingerprint(pk.blob), 'ssh-ed25519', pk.canonical.split(' ')[1] ?? '']);
    expect(r).toEqual({ code: 0, stdout: '' });
  });

  it('refuses hostile arguments without calling the api or running anything', async () => {
    const marker = path.join(tmpdir(), `airlock-pwned-${process.pid}`);
    const before = lookups();
    const hostile: string[][] = [
      ['airlock', `SHA256:$(touch ${marker})`, 'ssh-ed25519', agent.blob],
      ['airlock', `\`touch ${marker}\``, 'ssh-ed25519', agent.blob],
      ['airlock', `${agent.fingerprint};touch ${marker}`, 'ssh-ed25519', agent.blob],
      ['airlock', `${agent.fingerprint}\nrestrict ssh-ed25519 AAAA`, 'ssh-ed25519', agent.blob],
      ['airlock', `SHA256:${'A'.repeat(100_000)}`, 'ssh-ed25519', agent.blob],
      ['airlock', agent.fingerprint, 'ssh-ed25519', `${agent.blob}" evil`],
      ['airlock', agent.fingerprint, 'ssh-ed25519 x', agent.blob],
      ['airlock', agent.fingerprint, 'ssh-ed25519'],
      ['airlock', agent.fingerprint, 'ssh-ed25519', agent.blob, 'extra'],
      [],
    ];
    for (const args of hostile) {
      const r = await callHelper(args);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
    }
    // Other accounts and other key types: nothing authorized, no lookup either.
    expect(await callHelper(['root', agent.fingerprint, 'ssh-ed25519', agent.blob])).toEqual({ code: 0, stdout: '' });
    expect(await callHelper(['airlock', agent.fingerprint, 'ssh-rsa', 'AAAAB3NzaC1yc2E='])).toEqual({ code: 0, stdout: '' });
    expect(existsSync(marker)).toBe(false);
    expect(lookups()).toBe(before);
  });

  it('cannot be used by another account: the token file is not readable to it', async () => {
    const r = await callHelper(['airlock', agent.fingerprint, 'ssh-ed25519', agent.blob], 'nobody');
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  it('fails closed when the api is unreachable or refuses its token', async () => {
    for (const env of [{ TUNNEL_API_URL: `http://127.0.0.1:${await freePort()}` }, { TUNNEL_API_TOKEN: `aop_${'x'.repeat(43)}` }]) {
      const other = helperDir();
      try {
        const c = loadTunnelConfig({ TUNNEL_API_URL: t.api.url, TUNNEL_API_TOKEN: t.serviceToken, TUNNEL_HELPER_DIR: other, AIRLOCK_DATA_DIR: tmpdir(), ...env });
        const h = await installKeysHelper(c, await checkAccounts(c));
        const r = await callHelper(['airlock', agent.fingerprint, 'ssh-ed25519', agent.blob], KEYS_USER, h);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    }
  });

  it('will not install where sshd would call it unsafe (under /tmp)', async () => {
    const c = { ...config, helperDir: path.join(tmpdir(), `airlock-unsafe-${process.pid}`) };
    try {
      await expect(installKeysHelper(c, await checkAccounts(c))).rejects.toThrow(SetupError);
      await expect(installKeysHelper(c, await checkAccounts(c))).rejects.toThrow(/not group- or world-writable/);
    } finally {
      rmSync(c.helperDir, { recursive: true, force: true });
    }
  });

  it('answers in tens of milliseconds per call (measured, printed for the README)', async () => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const started = performance.now();
      const r = await callHelper(['airlock', agent.fingerprint, 'ssh-ed25519', agent.blob]);
      times.push(performance.now() - started);
      expect(r.stdout).toContain(agent.blob);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`keys helper latency (runuser + node + api), ms: median ${times[7]?.toFixed(0)}, max ${times[14]?.toFixed(0)}\n`);
    expect(times).toHaveLength(15);
  });
});
