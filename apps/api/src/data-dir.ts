/** Where the api keeps local state, and the quickstart's admin token within it. Shared by api, CLI and `pnpm start`. */
import { chmodSync, lstatSync, mkdirSync, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';

export const DEFAULT_DATA_DIR = './.airlock';

/** The 0600 file the bootstrap writes and `pnpm airlock` reads (see bootstrap.ts). */
export const adminTokenPath = (dataDir: string): string => path.resolve(dataDir, 'admin-token');

/** The data directory cannot be made safe: the api refuses to start. */
class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

const lstatOrNull = (p: string): Stats | null => {
  try {
    return lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

/**
 * Makes sure `dir` is a private directory of this process's user (#8.9): it
 * holds the server secret, the admin token and the embedded database, which
 * has no authentication of its own. Created 0700 when absent; tightened to
 * 0700 with a warning when ours but open to others (mkdir's mode never
 * tightens an existing directory); refused when it is a symbolic link (a
 * link can be re-pointed by whoever owns it) or belongs to another user.
 */
export const ensurePrivateDir = (dir: string, warn: (message: string, fields: Record<string, unknown>) => void): void => {
  let st = lstatOrNull(dir);
  if (!st) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw new DataDirError(`${dir} is a symbolic link; point AIRLOCK_DATA_DIR at the real directory`);
  if (!st.isDirectory()) throw new DataDirError(`${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirError(`${dir} belongs to uid ${st.uid}, not to this process (uid ${uid}); chown it or choose another AIRLOCK_DATA_DIR`);
  }
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    chmodSync(dir, 0o700);
    warn('data directory was open to other users; tightened to 0700', { dir, previous_mode: mode.toString(8) });
  }
};

/**
 * Takes group and other permissions off every file and directory under
 * `dir` (symbolic links are left alone). PGlite creates its files 0666 and
 * trusts the umask; a data directory written by an older version, or under a
 * loose umask, is fixed here at start.
 */
export const tightenTree = (dir: string): number => {
  let changed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const mode = lstatSync(p).mode & 0o777;
    if (mode & 0o077) {
      chmodSync(p, mode & 0o700);
      changed++;
    }
    if (entry.isDirectory()) changed += tightenTree(p);
  }
  return changed;
};
