/**
 * Issue 23 against a real stack (api + edge over TLS, Postgres, Redis): a
 * site's installer is built by `airlock sites installer`, verified the way an
 * operator would (sha256sum -c, ssh-keygen -Y verify), run as a non-root
 * trial, retired by a rotation, and refused when a byte changes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.ts';
import { createSite, fileMode } from '../agent/support.ts';
import { airlock, bundleAgent, run } from './support.ts';

let stack: Stack;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'airlock-installers-'));
  const bundle = await bundleAgent(work);
  stack = await startStack({ tls: true, apiEnv: { AIRLOCK_AGENT_BUNDLE: bundle } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

const build = async (site: string, out: string, keyArgs: string[]) => {
  const r = await airlock(stack, ['sites', 'installer', site, '--server', stack.edgeUrl, '--pin', `sha256:${stack.certSha256}`, '--out', out, ...keyArgs]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const runFile = (await readdir(out)).find((f) => f.endsWith('.run'));
  if (runFile === undefined) throw new Error(`no .run in ${out}`);
  return { file: path.join(out, runFile), name: runFile, stdout: r.stdout };
};

/** Every file under `dir`, read as text (for "the key is nowhere"). */
const allText = async (dir: string): Promise<string> => {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(entries.filter((e) => e.isFile()).map((e) => readFile(path.join(e.parentPath, e.name), 'utf8')));
  return texts.join('\n');
};

const trial = (file: string, stateDir: string) =>
  run('sh', [file, '--state-dir', stateDir, '--no-install', '--machine-uid', `installer-${randomBytes(6).toString('hex')}`]);

describe('a site installer built with --rotate', { timeout: 300_000 }, () => {
  let site: string;
  let built: Awaited<ReturnType<typeof build>>;
  let out: string;

  beforeAll(async () => {
    site = await createSite(stack, 'auto');
    out = path.join(work, 'out-rotate');
    built = await build(site, out, ['--rotate']);
  });

  it('is named after the site and its key version and fingerprint, and comes with .sha256 and .sig', async () => {
    const key = await stack.admin('GET', `/api/v1/admin/sites/${site}/enrollment-key`);
    const [, version, hex] = /^v(\d+) \(([0-9A-F]{4})\)$/.exec(key.body.fingerprint) ?? [];
    expect(built.name).toBe(`airlock-agent-${site}-v${version}-${hex}.run`);
    expect((await readdir(out)).sort()).toEqual([built.name, `${built.name}.sha256`, `${built.name}.sig`]);
    expect(await fileMode(built.file)).toBe(0o600);
    // The minted key is printed once, alone on the last line, and it is the one inside.
    const printed = built.stdout.trimEnd().split('\n').at(-1) ?? '';
    expect(printed).toMatch(/^cek_/);
    expect(await readFile(built.file, 'utf8')).toContain(`AIRLOCK_KEY='${printed}'`);
  });

  it('passes sha256sum -c and stock ssh-keygen -Y verify with the allowed-signers output', async () => {
    expect(execFileSync('sha256sum', ['-c', `${built.name}.sha256`], { cwd: out, encoding: 'utf8' })).toContain(': OK');
    const signers = await airlock(stack, ['installers', 'allowed-signers']);
    expect(signers.code).toBe(0);
    expect(signers.stdout).toMatch(/^airlock namespaces="airlock-installer" ssh-ed25519 AAAA\S+ airlock-installer-signing\n$/);
    const allowed = path.join(work, 'allowed_signers');
    await writeFile(allowed, signers.stdout);
    const verified = execFileSync(
      'ssh-keygen',
      ['-Y', 'verify', '-f', allowed, '-I', 'airlock', '-n', 'airlock-installer', '-s', `${built.file}.sig`],
      { input: await readFile(built.file), encoding: 'utf8' },
    );
    expect(verified).toMatch(/Good "airlock-installer" signature for airlock/);
  });

  it('enrolls as a non-root trial into --state-dir, and the agent shows in `airlock agents list`', async () => {
    const state = path.join(work, 'trial-state');
    const r = await trial(built.file, state);
    expect(r.stderr).not.toMatch(/cek_/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Enrolling with .* as site ${site}`));
    expect(r.stdout).toMatch(/Enrolled into/);
    expect(await fileMode(state)).toBe(0o700);
    const key = (await readFile(built.file, 'utf8')).match(/AIRLOCK_KEY='(cek_[^']+)'/)?.[1] ?? 'missing';
    expect(r.stdout + r.stderr).not.toContain(key);
    expect(await allText(state)).not.toContain(key);
    const agents = await airlock(stack, ['agents', 'list', '--json']);
    const listed = (JSON.parse(agents.stdout) as { items: { site_code: string; status: string }[] }).items.filter((a) => a.site_code === site);
    expect(listed).toHaveLength(1);
    expect(listed[0]?.status).toBe('active');
    // Re-running is harmless: already enrolled, nothing asked of the server.
    const again = await trial(built.file, state);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already enrolled/);
  });

  it('refuses to run at all when one byte of it changed', async () => {
    const text = await readFile(built.file);
    const at = text.length - 100;
    text.writeUInt8(text.readUInt8(at) === 0x41 ? 0x42 : 0x41, at);
    const tampered = path.join(work, 'tampered.run');
    await writeFile(tampered, text);
    const state = path.join(work, 'tampered-state');
    const r = await trial(tampered, state);
    expect(r.code).toBe(21);
    expect(r.stderr).toMatch(/checksum mismatch/);
    await expect(readdir(state)).rejects.toThrow(/ENOENT/);
  });
});

describe('rotation retires older installers', { timeout: 300_000 }, () => {
  it('stops the old installer with its version, fingerprint and exit code 20; the new one enrolls', async () => {
    const site = await createSite(stack, 'auto');
    const old = await build(site, path.join(work, 'old'), ['--rotate']);
    const fresh = await build(site, path.join(work, 'new'), ['--rotate']);
    expect(fresh.name).not.toBe(old.name);
    const [, version, hex] = /-v(\d+)-([0-9A-F]{4})\.run$/.exec(old.name) ?? [];
    const refused = await trial(old.file, path.join(work, 'old-state'));
    expect(refused.code).toBe(20);
    expect(refused.stderr).toContain(`v${version} (${hex})`);
    expect(refused.stderr).toContain(`version ${version}`);
    expect(refused.stderr).toMatch(new RegExp(`rotated out[\\s\\S]*Get the current installer for site ${site}`));
    const ok = await trial(fresh.file, path.join(work, 'new-state'));
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });

  it('builds from a saved key only when it is the current one, checked before any file is written', async () => {
    const site = await createSite(stack, 'auto');
    const first = await build(site, path.join(work, 'saved-1'), ['--rotate']);
    const firstKey = first.stdout.trimEnd().split('\n').at(-1) ?? '';
    const keyFile = path.join(work, 'saved.key');
    await writeFile(keyFile, `${firstKey}\n`, { mode: 0o600 });
    const again = await build(site, path.join(work, 'saved-2'), ['--key-file', keyFile]);
    expect(again.name).toBe(first.name);
    expect(again.stdout).not.toContain(firstKey);
    await build(site, path.join(work, 'saved-3'), ['--rotate']);
    const stale = path.join(work, 'saved-4');
    const r = await airlock(stack, ['sites', 'installer', site, '--server', stack.edgeUrl, '--pin', `sha256:${stack.certSha256}`, '--out', stale, '--key-file', keyFile]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not the current enrollment key .*current: v\d+ \([0-9A-F]{4}\)/);
    await expect(readdir(stale)).rejects.toThrow(/ENOENT/);
  });
});
