/**
 * The preflight as `pnpm test` runs it, on a machine whose PATH lacks the
 * command-line tools: it stops with the message, and with
 * AIRLOCK_TEST_INSTALL=1 it runs apt-get for exactly the missing packages,
 * looks again and passes. apt-get is a stand-in on PATH that records its
 * arguments and "installs" by linking the real binaries in; nothing on this
 * machine is installed or changed.
 */
import { execFile } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLS } from './requirements.ts';

const MAIN = path.join(import.meta.dirname, 'main.ts');

const which = (command: string): string => {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(`${command} is not on this machine's PATH`);
};

const run = (env: Record<string, string>) =>
  new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, '--tools-only'], { cwd: path.join(import.meta.dirname, '../..'), env, timeout: 30_000 }, (err, _out, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });

let dir: string;
let bin: string;
let log: string;
/** Packages whose tools are commands looked up on PATH (the ones an empty PATH hides). */
const commandPackages = [...new Set(TOOLS.filter((t) => 'command' in t.where).map((t) => t.pkg))];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-preflight-'));
  bin = path.join(dir, 'bin');
  log = path.join(dir, 'apt-get.log');
  // package -> [command, real path], so the stand-in can "install" a package by linking its commands in.
  const provides: Record<string, [string, string][]> = {};
  for (const t of TOOLS) if ('command' in t.where) (provides[t.pkg] ??= []).push([t.where.command, which(t.where.command)]);
  const apt = path.join(dir, 'apt-get.mjs');
  writeFileSync(
    apt,
    `#!${process.execPath}
import { appendFileSync, symlinkSync } from 'node:fs';
const args = process.argv.slice(2);
appendFileSync(${JSON.stringify(log)}, args.join(' ') + '\\n');
const provides = ${JSON.stringify(provides)};
if (args[0] === 'install') for (const pkg of args.filter((a) => !a.startsWith('-')).slice(1)) for (const [cmd, real] of provides[pkg] ?? []) symlinkSync(real, ${JSON.stringify(bin)} + '/' + cmd);
`,
  );
  chmodSync(apt, 0o755);
  // Only apt-get on PATH: every command-line tool looks missing.
  mkdirSync(bin);
  symlinkSync(apt, path.join(bin, 'apt-get'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scripts/preflight/main.ts (pnpm test, first step)', () => {
  it('stops with exit 1 and the apt-get line when tools are missing, and runs nothing', async () => {
    const r = await run({ PATH: bin });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`apt-get update && apt-get install -y ${commandPackages.join(' ')}\n`);
    expect(() => readFileSync(log, 'utf8')).toThrow();
  });

  it('with AIRLOCK_TEST_INSTALL=1 installs exactly the missing packages, says so, looks again and passes', async () => {
    const r = await run({ PATH: bin, AIRLOCK_TEST_INSTALL: '1' });
    expect(r.stderr).toContain(`[preflight] running: apt-get install -y -qq ${commandPackages.join(' ')}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`update -qq\ninstall -y -qq ${commandPackages.join(' ')}\n`);
    expect(r.stderr).toMatch(/\[preflight\] system tools, tunnel accounts ready \(\d+ ms\)\n$/);
  });
});
