/**
 * For the installer tests: the operator CLI as a child process against a
 * stack, the agent bundle the api embeds, and a stand-in for a systemd tool
 * that records how it was called.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, TSX } from '@airlock/testing';
import type { Stack } from '../helpers/stack.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export const run = (file: string, args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> =>
  new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...env },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });

/** `pnpm airlock ARGS` as an operator runs it, with the stack's admin token. */
export const airlock = (stack: Stack, args: readonly string[]): Promise<CliRun> =>
  run(TSX, [path.join(REPO_ROOT, 'apps/cli/src/main.ts'), ...args], { AIRLOCK_API_URL: stack.apiUrl, AIRLOCK_TOKEN: stack.adminToken });

/** The single-file agent bundle, built once into `dir` (what `pnpm build` makes for a deployed api). */
export const bundleAgent = async (dir: string): Promise<string> => {
  const outfile = path.join(dir, 'airlock-agent.mjs');
  await promisify(execFile)(TSX, ['apps/agent/scripts/bundle.ts', '--outfile', outfile], { cwd: REPO_ROOT });
  return outfile;
};

/**
 * A directory under `parent` holding a stand-in `name` that appends its arguments to
 * `log` and prints `answers[first argument]` (e.g. systemctl's
 * is-system-running → running). Put it first on PATH.
 */
export const standIn = async (parent: string, name: string, log: string, answers: Record<string, string>): Promise<string> => {
  const dir = await mkdtemp(path.join(parent, `standin-${name}-`));
  const cases = Object.entries(answers)
    .map(([arg, out]) => `  ${arg}) echo '${out}' ;;`)
    .join('\n');
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\necho "$*" >> '${log}'\ncase \${1:-} in\n${cases}\nesac\nexit 0\n`);
  await chmod(file, 0o755);
  return dir;
};
