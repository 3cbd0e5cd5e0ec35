import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  StateError,
  defaultStateDir,
  ensureStateDir,
  fileMode,
  readCredentials,
  statePaths,
  writeCredentials,
  writeFileAtomic,
  type CredentialsState,
} from './state.ts';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-agent-state-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('defaultStateDir', () => {
  it('uses /var/lib/airlock-agent for root', () => {
    expect(defaultStateDir({ HOME: '/root' }, 0)).toBe('/var/lib/airlock-agent');
  });

  it('uses $XDG_STATE_HOME for other users, else ~/.local/state', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: '/x/state', HOME: '/home/a' }, 1000)).toBe('/x/state/airlock-agent');
    expect(defaultStateDir({ HOME: '/home/a' }, 1000)).toBe('/home/a/.local/state/airlock-agent');
  });

  it('ignores a relative XDG_STATE_HOME, as the XDG spec says', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: 'rel', HOME: '/home/a' }, 1000)).toBe('/home/a/.local/state/airlock-agent');
  });
});

describe('ensureStateDir', () => {
  it('creates nested directories with mode 0700 regardless of the umask', async () => {
    const dir = path.join(tmp, 'a', 'b');
    const old = process.umask(0o000);
    try {
      await ensureStateDir(dir);
    } finally {
      process.umask(old);
    }
    expect(await fileMode(dir)).toBe(0o700);
  });

  it('tightens an existing world-readable directory and says so', async () => {
    const dir = path.join(tmp, 'open');
    await fs.mkdir(dir, { mode: 0o755 });
    await fs.chmod(dir, 0o755);
    expect(await ensureStateDir(dir)).toEqual({ tightened: true });
    expect(await fileMode(dir)).toBe(0o700);
    expect(await ensureStateDir(dir)).toEqual({ tightened: false });
  });

  it('refuses a symlink in place of the directory', async () => {
    const real = path.join(tmp, 'real');
    await fs.mkdir(real, { mode: 0o700 });
    const link = path.join(tmp, 'link');
    await fs.symlink(real, link);
    await expect(ensureStateDir(link)).rejects.toBeInstanceOf(StateError);
  });
});

describe('writeFileAtomic', () => {
  it('writes mode 0600 even under a permissive umask', async () => {
    const file = path.join(tmp, 'secret.json');
    const old = process.umask(0o000);
    try {
      await writeFileAtomic(file, '{"a":1}\n');
    } finally {
      process.umask(old);
    }
    expect(await fileMode(file)).toBe(0o600);
    expect(await fs.readFile(file, 'utf8')).toBe('{"a":1}\n');
  });

  it('replaces an existing file whole and leaves no temp files behind', async () => {
    const file = path.join(tmp, 'credentials.json');
    await fs.writeFile(file, 'old', { mode: 0o644 });
    const inodeBefore = (await fs.stat(file)).ino;
    await writeFileAtomic(file, 'new');
    expect(await fs.readFile(file, 'utf8')).toBe('new');
    // A rename, not an in-place rewrite: readers see the old or the new file, never a torn one.
    expect((await fs.stat(file)).ino).not.toBe(inodeBefore);
    expect(await fileMode(file)).toBe(0o600);
    expect(await fs.readdir(tmp)).toEqual(['credentials.json']);
  });

  it('cleans up its temp file and leaves the target alone when the rename fails', async () => {
    // A non-empty directory where the file should go makes the rename fail after the temp file was written.
    const blocked = path.join(tmp, 'blocked');
    await fs.mkdir(path.join(blocked, 'x'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow();
    expect(await fs.readdir(tmp)).toEqual(['blocked']);
    expect(await fs.readdir(blocked)).toEqual(['x']);
  });
});

describe('credentials.json', () => {
  it('round-trips with mode 0600', async () => {
    const paths = statePaths(tmp);
    const credentials: CredentialsState = {
      version: 1,
      agent_id: '3f1e1c9e-0000-4000-8000-000000000001',
      site_code: 'ACME-PHX',
      agent_key: `cak_${'x'.repeat(43)}`,
      server: 'https://edge.example.com',
      fingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      hostname: 'vma-01',
      enrolled_at: '2026-11-22T18:00:00.000Z',
      private_key_file: paths.privateKey,
      ssh: null,
      tls: {},
      certificate: null,
    };
    await writeCredentials(paths, credentials);
    expect(await fileMode(paths.credentials)).toBe(0o600);
    expect(await readCredentials(paths)).toEqual(credentials);
  });

  it('reports a corrupt file instead of treating the machine as not enrolled', async () => {
    const paths = statePaths(tmp);
    await fs.writeFile(paths.credentials, '{"version":1');
    await expect(readCredentials(paths)).rejects.toBeInstanceOf(StateError);
  });

  it('reads a missing file as null', async () => {
    expect(await readCredentials(statePaths(tmp))).toBeNull();
  });
});
