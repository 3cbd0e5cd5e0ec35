/**
 * #8.9: the data directory (server secret, admin token, embedded database) is
 * checked at start: tightened when ours, refused when a symbolic link or
 * another user's; a short server secret is refused with a clear error.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApi } from '@airlock/api/testing';
import { REPO_ROOT, TSX } from '@airlock/testing';
import { ConfigError, loadApiConfig } from '../src/env.ts';
import { loadServerSecret } from '../src/secret.ts';
import { startApi } from '../src/server.ts';

const root = mkdtempSync(path.join(tmpdir(), 'airlock-datadir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const dir = (name: string, mode = 0o700) => {
  const p = path.join(root, name);
  mkdirSync(p, { mode });
  chmodSync(p, mode);
  return p;
};

describe('data directory at start', () => {
  it('tightens a directory of ours that others could read to 0700, with a warning', async () => {
    const loose = dir('loose', 0o755);
    const t = await startTestApi({ env: { AIRLOCK_DATA_DIR: loose } });
    try {
      expect(statSync(loose).mode & 0o777).toBe(0o700);
      expect(t.logs.some((l) => l.includes('"level":"warn"') && l.includes('tightened to 0700'))).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('refuses a symbolic link and a directory owned by another user', async () => {
    const real = dir('real');
    const link = path.join(root, 'link');
    symlinkSync(real, link);
    const foreign = dir('foreign');
    chownSync(foreign, 65534, 65534);
    for (const [d, message] of [
      [link, /symbolic link/],
      [foreign, /belongs to uid 65534/],
    ] as const) {
      const config = loadApiConfig({ AIRLOCK_DATA_DIR: d, AIRLOCK_SECRET: 's'.repeat(40), DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', API_PORT: '0' });
      await expect(startApi(config)).rejects.toThrow(message);
    }
  });
});

describe('server secret', () => {
  it('refuses an empty or short server-secret file, and accepts a 32-byte one', () => {
    for (const content of ['', '\n', 'short-secret\n', 'x'.repeat(31)]) {
      const d = dir(`secret-${content.length}-${Math.random().toString(36).slice(2)}`);
      writeFileSync(path.join(d, 'server-secret'), content, { mode: 0o600 });
      expect(() => loadServerSecret(undefined, d)).toThrow(/at least 32 bytes/);
    }
    const ok = dir('secret-ok');
    writeFileSync(path.join(ok, 'server-secret'), `${'k'.repeat(32)}\n`, { mode: 0o600 });
    expect(loadServerSecret(undefined, ok)).toBe('k'.repeat(32));
  });

  it('refuses a short AIRLOCK_SECRET at configuration time', () => {
    expect(() => loadApiConfig({ AIRLOCK_SECRET: 'x'.repeat(31) })).toThrow(ConfigError);
  });

  it('stops `pnpm start:api` with a clear message and a non-zero exit when the secret file is short', async () => {
    const d = dir('process');
    writeFileSync(path.join(d, 'server-secret'), 'tooshort\n', { mode: 0o600 });
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        TSX,
        ['apps/api/src/main.ts'],
        { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AIRLOCK_DATA_DIR: d, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', API_PORT: '0' }, timeout: 60_000 },
        (err, _stdout, stderr) => resolve({ code: err && typeof err.code === 'number' ? err.code : 0, stderr }),
      );
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/server-secret holds 8 bytes; the server secret must be at least 32 bytes/);
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
