/**
 * Where the CLI finds the operator token. Never a flag: argv is visible to
 * every user through `ps` and lands in shell history.
 */
import { statSync, readFileSync } from 'node:fs';
import { adminTokenPath, DEFAULT_DATA_DIR } from '@airlock/api/admin';

// Only catches the obviously wrong (a key pasted instead of a token); the api decides the rest.
const TOKEN_SHAPE = /^aop_[A-Za-z0-9_-]{20,200}$/;
const isOperatorToken = (value: string) => TOKEN_SHAPE.test(value);

/** The token could not be used; the message says how to fix it and never contains the token. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

export interface LoadedToken {
  token: string;
  /** Where it came from, for messages: 'AIRLOCK_TOKEN' or the file path. */
  source: string;
}

export const tokenFilePath = (env: NodeJS.ProcessEnv): string => adminTokenPath(env.AIRLOCK_DATA_DIR || DEFAULT_DATA_DIR);

/**
 * `AIRLOCK_TOKEN`, else `$AIRLOCK_DATA_DIR/admin-token`; null when neither exists.
 * The file is refused (not skipped) when others can read it or it belongs to
 * another user, like ssh does with private keys: silently falling back would
 * hide a leaked credential.
 */
export const loadOperatorToken = (env: NodeJS.ProcessEnv): LoadedToken | null => {
  const fromEnv = env.AIRLOCK_TOKEN?.trim();
  if (fromEnv) {
    if (!isOperatorToken(fromEnv)) throw new TokenError('AIRLOCK_TOKEN is not an operator token (expected aop_…)');
    return { token: fromEnv, source: 'AIRLOCK_TOKEN' };
  }
  const file = tokenFilePath(env);
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TokenError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!stat.isFile()) throw new TokenError(`${file} is not a regular file`);
  const mode = stat.mode & 0o777;
  if (mode & 0o077) {
    throw new TokenError(`${file} is accessible by other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${file}`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && stat.uid !== uid) {
    throw new TokenError(`${file} belongs to another user (uid ${stat.uid}); refusing to use it`);
  }
  const token = readFileSync(file, 'utf8').trim();
  if (!isOperatorToken(token)) throw new TokenError(`${file} does not hold an operator token (expected aop_…)`);
  return { token, source: file };
};
