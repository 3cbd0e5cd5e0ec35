import * as fs from 'node:fs/promises';
import { isNotFound, type StatePaths } from './state.ts';

export interface RenewLock {
  release(): Promise<void>;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours.
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EPERM';
  }
};

/**
 * One renew or recover per state directory at a time: two rotations racing
 * could each store a cak_ the other one retired. A timer run and a manual run
 * are the realistic pair. The lock is a file created with O_EXCL holding the
 * owner's pid; one left behind by a process that died is taken over.
 * Returns who holds it when a live process does.
 */
export const acquireRenewLock = async (paths: StatePaths): Promise<RenewLock | { heldBy: number }> => {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await fs.open(paths.renewLock, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => fs.rm(paths.renewLock, { force: true }) };
    } catch (error) {
      if (!(typeof error === 'object' && error !== null && 'code' in error && error.code === 'EEXIST')) throw error;
    }
    const text = await fs.readFile(paths.renewLock, 'utf8').catch((error: unknown) => (isNotFound(error) ? '' : Promise.reject(error)));
    const pid = Number.parseInt(text.trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return { heldBy: pid };
    // Stale (its owner is gone) or unreadable: take it over once.
    await fs.rm(paths.renewLock, { force: true });
  }
  return { heldBy: 0 };
};
