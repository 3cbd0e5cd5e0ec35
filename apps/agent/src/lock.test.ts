import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRenewLock } from './lock.ts';
import { fileMode, statePaths, type StatePaths } from './state.ts';

let paths: StatePaths;
beforeEach(async () => {
  paths = statePaths(await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-lock-')));
});
afterEach(async () => {
  await fs.rm(paths.dir, { recursive: true, force: true });
});

describe('the renew lock', () => {
  it('is taken once (0600, with our pid) and free again after release', async () => {
    const lock = await acquireRenewLock(paths);
    if ('heldBy' in lock) throw new Error('expected the lock');
    expect(await fileMode(paths.renewLock)).toBe(0o600);
    expect((await fs.readFile(paths.renewLock, 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
    expect(await fileMode(paths.renewLock)).toBeNull();
  });

  it('names the live process that holds it', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await fs.writeFile(paths.renewLock, `${holder.pid}\n`, { mode: 0o600 });
      expect(await acquireRenewLock(paths)).toEqual({ heldBy: holder.pid });
    } finally {
      holder.kill();
    }
  });

  it('takes over a lock left by a process that died', async () => {
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => gone.once('exit', resolve));
    await fs.writeFile(paths.renewLock, `${gone.pid}\n`, { mode: 0o600 });
    const lock = await acquireRenewLock(paths);
    expect('release' in lock).toBe(true);
    expect((await fs.readFile(paths.renewLock, 'utf8')).trim()).toBe(String(process.pid));
  });
});
