/**
 * The installer for real, as root (CI runs as root): files, modes and units
 * on this machine, with a stand-in `systemctl` that says systemd runs and
 * records what it was asked; then --uninstall and nothing left. Then the
 * same through the Debian package: dpkg -i, dpkg -r.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@airlock/testing';
import { startStack, type Stack } from '../helpers/stack.ts';
import { createSite, fileMode, standInSystemdCreds } from '../agent/support.ts';
import { airlock, bundleAgent, run, standIn } from './support.ts';

const PREFIX = '/opt/airlock-agent';
const STATE = '/var/lib/airlock-agent';
const LINK = '/usr/local/bin/airlock-agent';
const UNIT_DIR = '/etc/systemd/system';
const UNITS = ['airlock-agent-enroll.service', 'airlock-agent-tunnel.service', 'airlock-agent-renew.service', 'airlock-agent-renew.timer'];

let stack: Stack;
let work: string;
let systemctlLog: string;
let pathWithStandIn: string;
/** A stand-in systemd-creds (test/agent/support.ts): this machine's real one, if any, would seal with its host key. */
let credsBin: string;

const everythingGone = () => [PREFIX, LINK, ...UNITS.map((u) => path.join(UNIT_DIR, u))].filter((p) => existsSync(p));

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests install for real and must run as root (CI does)');
  // Another run's leftovers would make every check below meaningless.
  expect(everythingGone()).toEqual([]);
  expect(existsSync(STATE)).toBe(false);
  work = await mkdtemp(path.join(tmpdir(), 'airlock-installers-root-'));
  systemctlLog = path.join(work, 'systemctl.log');
  const dir = await standIn(work, 'systemctl', systemctlLog, { 'is-system-running': 'running' });
  credsBin = await mkdtemp(path.join(work, 'creds-'));
  await standInSystemdCreds(work, credsBin);
  pathWithStandIn = `${dir}:${credsBin}:${process.env.PATH ?? '/usr/bin:/bin'}`;
  stack = await startStack({ tls: true, apiEnv: { AIRLOCK_AGENT_BUNDLE: await bundleAgent(work) } });
}, 180_000);

// A failed test must not leave this machine installed for the next one.
afterEach(async () => {
  if (existsSync(`${PREFIX}/lib/installer.sh`)) await run('sh', [`${PREFIX}/lib/installer.sh`, '--uninstall', '--purge'], { PATH: pathWithStandIn });
  await Promise.all([PREFIX, STATE, LINK, ...UNITS.map((u) => path.join(UNIT_DIR, u))].map((p) => rm(p, { recursive: true, force: true })));
});

afterAll(async () => {
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

const buildFor = async (out: string, extra: string[] = []) => {
  const site = await createSite(stack, 'auto');
  const r = await airlock(stack, ['sites', 'installer', site, '--server', stack.edgeUrl, '--pin', `sha256:${stack.certSha256}`, '--out', out, '--rotate', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return { site, files: (await readdir(out)).map((f) => path.join(out, f)) };
};

describe('sh installer.run as root', { timeout: 420_000 }, () => {
  it('installs the agent, the state directory and the units, enrolls, enables; --uninstall removes it all', async () => {
    const { site, files } = await buildFor(path.join(work, 'run'));
    const runFile = files.find((f) => f.endsWith('.run')) ?? '';
    const env = { PATH: pathWithStandIn };
    const r = await run('sh', [runFile, '--machine-uid', 'installer-root-0001', '--no-start'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Installed the Airlock agent \(Node\.js v\d+/);
    expect(r.stdout).toMatch(/Enabled: airlock-agent-enroll\.service airlock-agent-tunnel\.service airlock-agent-renew\.timer/);

    expect(await fileMode(STATE)).toBe(0o700);
    expect(existsSync(path.join(STATE, 'credentials.json'))).toBe(true);
    expect(await fileMode(path.join(STATE, 'credentials.json'))).toBe(0o600);
    // systemd-creds works here (the stand-in): the secrets are sealed, nothing in plaintext.
    expect(r.stdout).toMatch(/Protection: the agent's secrets are sealed to this machine with systemd-creds/);
    expect(await fileMode(path.join(STATE, 'agent-key.cred'))).toBe(0o600);
    expect(await fileMode(path.join(STATE, 'credentials.cred'))).toBe(0o600);
    expect(existsSync(path.join(STATE, 'id_ed25519'))).toBe(false);
    expect(await readFile(path.join(STATE, 'credentials.json'), 'utf8')).not.toMatch(/cak_/);
    expect(existsSync(path.join(STATE, 'enroll.env'))).toBe(false);
    expect(await fileMode(`${PREFIX}/bin/airlock-agent`)).toBe(0o755);
    expect(await fileMode(`${PREFIX}/lib/airlock-agent.mjs`)).toBe(0o755);
    expect((await lstat(LINK)).isSymbolicLink()).toBe(true);
    expect(await readlink(LINK)).toBe(`${PREFIX}/bin/airlock-agent`);
    for (const u of UNITS) expect(await fileMode(path.join(UNIT_DIR, u)), u).toBe(0o644);
    // The installed copy of the installer holds neither the key nor a payload.
    const key = (await readFile(runFile, 'utf8')).match(/AIRLOCK_KEY='(cek_[^']+)'/)?.[1] ?? 'missing';
    expect(await readFile(`${PREFIX}/lib/installer.sh`, 'utf8')).not.toContain(key);
    expect(r.stdout + r.stderr).not.toContain(key);

    const status = await run(LINK, ['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ enrolled: true, site_code: site, state_dir: STATE, protection: 'sealed (systemd-creds)' });
    expect(await readFile(systemctlLog, 'utf8')).toMatch(/daemon-reload\nenable airlock-agent-enroll\.service airlock-agent-tunnel\.service airlock-agent-renew\.timer\n/);

    // Again: harmless, and says so.
    const again = await run('sh', [runFile, '--machine-uid', 'installer-root-0001', '--no-start'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already enrolled/);

    // The installed copy carries no configuration: unattended (no terminal) it has nothing to do.
    const bare = await run('sh', [`${PREFIX}/lib/installer.sh`], env);
    expect(bare.code).toBe(23);
    expect(bare.stderr).toMatch(/carries no site configuration/);

    const gone = await run('sh', [`${PREFIX}/lib/installer.sh`, '--uninstall'], env);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toMatch(/Kept the state in \/var\/lib\/airlock-agent/);
    expect(everythingGone()).toEqual([]);
    expect(existsSync(path.join(STATE, 'credentials.json'))).toBe(true);
    expect(await readFile(systemctlLog, 'utf8')).toMatch(/disable --now airlock-agent-tunnel\.service/);

    const purged = await run('sh', [runFile, '--uninstall', '--purge'], env);
    expect(purged.code).toBe(0);
    expect(existsSync(STATE)).toBe(false);
  });

  it('without systemd running, installs the units and says what it skipped', async () => {
    const { files } = await buildFor(path.join(work, 'nosystemd'));
    const runFile = files.find((f) => f.endsWith('.run')) ?? '';
    const dir = await standIn(work, 'systemctl', systemctlLog, { 'is-system-running': 'offline' });
    const env = { PATH: `${dir}:${credsBin}:${process.env.PATH ?? ''}` };
    const r = await run('sh', [runFile, '--machine-uid', 'installer-root-0002', '--no-seal'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Protection: 0600 files in a 0700 directory \(--no-seal\)/);
    expect(existsSync(path.join(STATE, 'sealed'))).toBe(false);
    expect(r.stdout).toMatch(/systemd is not running here: installed the units .* but did not enable or start them/);
    expect(r.stdout).toMatch(/Skipped: systemctl daemon-reload; systemctl enable --now airlock-agent-enroll\.service/);
    expect((await run('sh', [runFile, '--uninstall', '--purge'], env)).code).toBe(0);
    expect(everythingGone()).toEqual([]);
  });

  it('falls back to the shell client without Node.js 20, and installs no tunnel or renewal unit', async () => {
    const { files } = await buildFor(path.join(work, 'shell'));
    const runFile = files.find((f) => f.endsWith('.run')) ?? '';
    const env = { PATH: pathWithStandIn, AIRLOCK_INSTALLER_NODE: 'none' };
    const r = await run('sh', [runFile, '--machine-uid', 'installer-root-0003'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/installed the shell client/);
    expect(r.stdout).toMatch(/Protection: 0600 files in a 0700 directory \(the shell client cannot seal\)/);
    expect(await fileMode(path.join(STATE, 'id_ed25519'))).toBe(0o600);
    expect(existsSync(`${PREFIX}/lib/airlock-agent.mjs`)).toBe(false);
    expect(existsSync(path.join(UNIT_DIR, 'airlock-agent-tunnel.service'))).toBe(false);
    expect(existsSync(path.join(STATE, 'credentials.json'))).toBe(true);
    expect((await run('sh', [runFile, '--uninstall', '--purge'], env)).code).toBe(0);
    expect(everythingGone()).toEqual([]);
  });

  it('with the server unreachable, leaves the key for the first-boot unit, which enrolls and deletes it', async () => {
    const site = await createSite(stack, 'auto');
    const out = path.join(work, 'offline');
    // Built for an address nothing listens on, as if the network were down during the install.
    const closed = `https://127.0.0.1:${await freePort()}`;
    const r0 = await airlock(stack, ['sites', 'installer', site, '--server', closed, '--pin', `sha256:${stack.certSha256}`, '--out', out, '--rotate']);
    expect(r0.code, r0.stderr).toBe(0);
    const runFile = path.join(out, (await readdir(out)).find((f) => f.endsWith('.run')) ?? '');
    const env = { PATH: pathWithStandIn };
    const r = await run('sh', [runFile, '--machine-uid', 'installer-root-0004'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/airlock-agent-enroll\.service will enroll at the next boot/);
    const pending = path.join(STATE, 'enroll.env');
    expect(await fileMode(pending)).toBe(0o600);
    // The network is back (here: the address is the real edge's), and the unit runs at boot.
    await writeFile(pending, (await readFile(pending, 'utf8')).replace(closed, stack.edgeUrl));
    const boot = await run('sh', [`${PREFIX}/lib/installer.sh`, '--enroll-pending'], env);
    expect(boot.code, boot.stdout + boot.stderr).toBe(0);
    expect(existsSync(pending)).toBe(false);
    expect(existsSync(path.join(STATE, 'credentials.json'))).toBe(true);
    // The --machine-uid given to the installer went with the pending enrollment (not this machine's own ids).
    expect(await readFile(path.join(STATE, 'credentials.json'), 'utf8')).toContain('installer-root-0004');
    expect(await readFile(systemctlLog, 'utf8')).toMatch(/start airlock-agent-tunnel\.service airlock-agent-renew\.timer/);
  });

  it('refuses to install without root, pointing at the trial mode', async () => {
    const { files } = await buildFor(path.join(work, 'noroot'));
    const runFile = files.find((f) => f.endsWith('.run')) ?? '';
    // Where user nobody can read it (the test's own directory is 0700).
    const open = await mkdtemp(path.join(tmpdir(), 'airlock-noroot-'));
    const copy = path.join(open, path.basename(runFile));
    execFileSync('cp', [runFile, copy]);
    execFileSync('chmod', ['0755', open]);
    execFileSync('chmod', ['0644', copy]);
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', copy]);
    await rm(open, { recursive: true, force: true });
    expect(r.code).toBe(22);
    expect(r.stderr).toMatch(/needs root .*--state-dir D --no-install/);
  });
});

describe('the Debian package', { timeout: 420_000 }, () => {
  it('builds with --format deb; dpkg -i installs and enrolls, dpkg -r removes, dpkg --purge clears the state', async () => {
    const out = path.join(work, 'deb');
    const { site, files } = await buildFor(out, ['--format', 'deb']);
    const deb = files.find((f) => f.endsWith('.deb')) ?? '';
    expect(path.basename(deb)).toMatch(new RegExp(`^airlock-agent-${site}_\\d+_all\\.deb$`));
    const info = await run('dpkg-deb', ['--info', deb]);
    expect(info.stdout).toMatch(/Package: airlock-agent\n/);
    expect((await run('dpkg-deb', ['--contents', deb])).stdout).toMatch(/\.\/usr\/lib\/airlock-agent\/installer\.run/);
    const env = { PATH: pathWithStandIn };
    try {
      const installed = await run('dpkg', ['-i', deb], env);
      expect(installed.code, installed.stdout + installed.stderr).toBe(0);
      expect(installed.stdout).toMatch(/Enrolling with .* as site/);
      expect(existsSync(path.join(STATE, 'credentials.json'))).toBe(true);
      expect(existsSync(`${PREFIX}/bin/airlock-agent`)).toBe(true);
      // The installer (and the key in it) does not stay on disk.
      expect(existsSync('/usr/lib/airlock-agent/installer.run')).toBe(false);
      const removed = await run('dpkg', ['-r', 'airlock-agent'], env);
      expect(removed.code, removed.stderr).toBe(0);
      expect(everythingGone()).toEqual([]);
      expect(existsSync(path.join(STATE, 'credentials.json'))).toBe(true);
      expect((await run('dpkg', ['--purge', 'airlock-agent'], env)).code).toBe(0);
      expect(existsSync(STATE)).toBe(false);
    } finally {
      await run('dpkg', ['--purge', 'airlock-agent'], env);
    }
  });
});
