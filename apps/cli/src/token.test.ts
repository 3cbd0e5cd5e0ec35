import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOperatorToken, TokenError } from './token.ts';

const TOKEN = `aop_${'A'.repeat(43)}`;
const OTHER = `aop_${'B'.repeat(43)}`;

describe('loadOperatorToken', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'airlock-cli-token-'));
    file = path.join(dir, 'admin-token');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const writeToken = (content: string, mode: number) => {
    writeFileSync(file, content, { mode });
    chmodSync(file, mode); // the umask may have narrowed the mode given to writeFileSync
  };

  it('prefers AIRLOCK_TOKEN over the file', () => {
    writeToken(`${OTHER}\n`, 0o600);
    expect(loadOperatorToken({ AIRLOCK_TOKEN: TOKEN, AIRLOCK_DATA_DIR: dir })).toEqual({ token: TOKEN, source: 'AIRLOCK_TOKEN' });
  });

  it('reads a 0600 file under the data dir, trimming the newline', () => {
    writeToken(`${TOKEN}\n`, 0o600);
    expect(loadOperatorToken({ AIRLOCK_DATA_DIR: dir })).toEqual({ token: TOKEN, source: file });
  });

  it('returns null when there is neither a variable nor a file', () => {
    expect(loadOperatorToken({ AIRLOCK_DATA_DIR: dir })).toBeNull();
  });

  it('refuses a file other users can read, and says how to fix it', () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      writeToken(TOKEN, mode);
      expect(() => loadOperatorToken({ AIRLOCK_DATA_DIR: dir })).toThrow(TokenError);
      expect(() => loadOperatorToken({ AIRLOCK_DATA_DIR: dir })).toThrow(`chmod 600 ${file}`);
    }
  });

  const failure = (env: NodeJS.ProcessEnv): string => {
    try {
      loadOperatorToken(env);
    } catch (err) {
      if (err instanceof TokenError) return err.message;
      throw err;
    }
    throw new Error('expected a TokenError');
  };

  it('refuses content that is not an operator token without echoing it', () => {
    writeToken('cek_notanoperatortokenatall1234\n', 0o600);
    const message = failure({ AIRLOCK_DATA_DIR: dir });
    expect(message).toContain('does not hold an operator token');
    expect(message).not.toContain('notanoperatortoken');
  });

  it('refuses a malformed AIRLOCK_TOKEN without echoing it', () => {
    const message = failure({ AIRLOCK_TOKEN: 'hunter2-hunter2' });
    expect(message).toBe('AIRLOCK_TOKEN is not an operator token (expected aop_…)');
  });

  it('refuses a directory where the file should be', () => {
    const nested = path.join(dir, 'nested');
    mkdirSync(path.join(nested, 'admin-token'), { recursive: true });
    expect(() => loadOperatorToken({ AIRLOCK_DATA_DIR: nested })).toThrow('is not a regular file');
  });
});

