import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The server secret that keys the pairing-code HMAC. It lives outside the
 * database so that a leaked table alone cannot be brute-forced (60-bit codes).
 * From AIRLOCK_SECRET, or a 0600 file created under the data dir on first start.
 */
export const loadServerSecret = (configured: string | undefined, dataDir: string): string => {
  if (configured) return configured;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'server-secret');
  try {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('hex');
  // 'wx': never overwrite a secret another process just created.
  writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
};
