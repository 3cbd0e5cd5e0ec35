import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The server secret that keys the pairing-code HMAC. It lives outside the
 * database so that a leaked table alone cannot be brute-forced (60-bit codes).
 * From AIRLOCK_SECRET, or a 0600 file created under the data dir on first start.
 */
const MIN_SECRET_BYTES = 32;

class ServerSecretError extends Error {
  override readonly name = 'ServerSecretError';
}

export const loadServerSecret = (configured: string | undefined, dataDir: string): string => {
  if (configured !== undefined) {
    // env.ts already refuses a short AIRLOCK_SECRET; this guards every other caller.
    if (Buffer.byteLength(configured, 'utf8') < MIN_SECRET_BYTES) throw new ServerSecretError(`AIRLOCK_SECRET must be at least ${MIN_SECRET_BYTES} bytes`);
    return configured;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'server-secret');
  try {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
    const secret = readFileSync(file, 'utf8').trim();
    // An empty or short file would key the HMAC with next to nothing (#8.9).
    if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
      throw new ServerSecretError(
        `${file} holds ${Buffer.byteLength(secret, 'utf8')} bytes; the server secret must be at least ${MIN_SECRET_BYTES} bytes. ` +
          'Restore it from backup, or delete it to have a new one generated (pairing codes issued under the old one stop working).',
      );
    }
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('hex');
  // 'wx': never overwrite a secret another process just created.
  writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
};
