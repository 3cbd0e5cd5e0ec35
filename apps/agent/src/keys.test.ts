import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateKey } from './keys.ts';
import { StateError, ensureStateDir, fileMode, statePaths } from './state.ts';

const run = promisify(execFile);
let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-agent-keys-'));
  await ensureStateDir(tmp);
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('loadOrCreateKey', () => {
  it('writes an OpenSSH private key (0600) that the real ssh-keygen reads back to the same public key', async () => {
    const paths = statePaths(tmp);
    const key = await loadOrCreateKey(paths, 'vma-01');
    expect(key.generated).toBe(true);
    expect(await fileMode(paths.privateKey)).toBe(0o600);
    const { stdout } = await run('ssh-keygen', ['-y', '-f', paths.privateKey]);
    expect(stdout.trim().split(' ').slice(0, 2)).toEqual(key.publicLine.split(' ').slice(0, 2));
    expect(key.publicLine.endsWith(' vma-01')).toBe(true);
  });

  it('reports the fingerprint exactly as ssh-keygen -lf does', async () => {
    const paths = statePaths(tmp);
    const key = await loadOrCreateKey(paths, 'vma-01');
    const { stdout } = await run('ssh-keygen', ['-lf', paths.publicKey]);
    expect(stdout.split(' ')[1]).toBe(key.fingerprint);
  });

  it('reuses the stored key on a second run', async () => {
    const paths = statePaths(tmp);
    const first = await loadOrCreateKey(paths, 'vma-01');
    const second = await loadOrCreateKey(paths, 'vma-01');
    expect(second.generated).toBe(false);
    expect(second.fingerprint).toBe(first.fingerprint);
  });

  it('accepts a key made by ssh-keygen itself and tightens its mode', async () => {
    const paths = statePaths(tmp);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'made-by-ssh-keygen', '-f', paths.privateKey]);
    await fs.chmod(paths.privateKey, 0o644);
    const { stdout } = await run('ssh-keygen', ['-lf', `${paths.privateKey}.pub`]);
    const key = await loadOrCreateKey(paths, 'vma-01');
    expect(key.fingerprint).toBe(stdout.split(' ')[1]);
    expect(await fileMode(paths.privateKey)).toBe(0o600);
  });

  it('refuses a private key file it cannot read as OpenSSH Ed25519', async () => {
    const paths = statePaths(tmp);
    await fs.writeFile(paths.privateKey, 'not a key', { mode: 0o600 });
    await expect(loadOrCreateKey(paths, 'vma-01')).rejects.toBeInstanceOf(StateError);
  });
});
