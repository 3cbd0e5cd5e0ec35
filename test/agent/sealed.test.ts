import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../helpers/stack.ts';
import { createSite, fileMode, readJson, removeTempDirs, rotateEnrollmentKey, runAgent, standInSystemdCreds, startAttendedStack, tempStateDir, verifyAgentKey } from './support.ts';

// Sealed state (docs/installers.md#protection-of-the-agents-secrets) against a
// real stack. `systemd-creds` is a stand-in on PATH: a script that "encrypts"
// with openssl under a secret of its own "host" (one per test host), so a
// state directory copied to another host (another secret) cannot be decrypted,
// as with the TPM2 or host key of a real machine. It logs its argv, so the
// test also sees that no secret ever travelled on a command line.

interface Host {
  bin: string;
  log: string;
  runtime: string;
  env: Record<string, string>;
}

const execFileP = promisify(execFile);

let stack: Stack;
let scratch: string;
beforeAll(async () => {
  ({ stack } = await startAttendedStack());
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-sealed-'));
});
afterAll(async () => {
  await stack?.stop();
  await removeTempDirs();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

/** A "machine": its own systemd-creds secret, runtime directory and PATH. */
const makeHost = async (): Promise<Host> => {
  const dir = await fs.mkdtemp(path.join(scratch, 'host-'));
  const bin = path.join(dir, 'bin');
  const runtime = path.join(dir, 'run');
  await fs.mkdir(bin);
  await fs.mkdir(runtime, { mode: 0o700 });
  const { log } = await standInSystemdCreds(dir, bin);
  return { bin, log, runtime, env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, RUNTIME_DIRECTORY: runtime } };
};

/** A machine without systemd-creds: PATH is one directory linking every command on PATH but that one (this machine may have a real one). */
const noCredsEnv = async (): Promise<Record<string, string>> => {
  const bin = await fs.mkdtemp(path.join(scratch, 'nocreds-'));
  const linked = new Set(['systemd-creds']);
  for (const dir of (process.env.PATH ?? '').split(':').filter((d) => path.isAbsolute(d))) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => !linked.has(n))) {
      linked.add(name);
      await fs.symlink(path.join(dir, name), path.join(bin, name));
    }
  }
  return { PATH: bin };
};

const run = async (args: string[], env: Record<string, string>) => {
  const r = runAgent(args, env);
  return { code: await r.exit, out: r.stdout(), err: r.stderr() };
};

const enroll = async (env: Record<string, string>) => {
  const site = await createSite(stack, 'auto');
  const key = await rotateEnrollmentKey(stack, site);
  const stateDir = await tempStateDir();
  const r = await run(
    ['enroll', '--server', stack.apiUrl, '--insecure', '--site', site, '--machine-uid', `m-${randomBytes(6).toString('hex')}`, '--state-dir', stateDir, '--name', 'vma-sealed'],
    { ...env, AIRLOCK_ENROLLMENT_KEY: key },
  );
  expect(r.code, r.out + r.err).toBe(0);
  return { site, key, stateDir, out: r.out };
};

/** Every byte of every file under `dir`, to look for secrets in. */
const allFiles = async (dir: string): Promise<Map<string, Buffer>> => {
  const found = new Map<string, Buffer>();
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      found.set(path.relative(dir, file), await fs.readFile(file));
    }
  }
  return found;
};

/** The decrypted cak_, read back the way systemd-creds would on this host. */
const sealedAgentKey = async (host: Host, stateDir: string): Promise<string> =>
  (await execFileP(path.join(host.bin, 'systemd-creds'), ['decrypt', '--name=credentials', path.join(stateDir, 'credentials.cred'), '-'])).stdout.trim();

const statusJson = async (stateDir: string, env: Record<string, string>) => {
  const r = await run(['status', '--state-dir', stateDir, '--json'], env);
  return { code: r.code, report: JSON.parse(r.out) as Record<string, unknown>, err: r.err };
};

// Each test runs several agent processes (tsx start-up is seconds on a loaded machine).
describe('sealed state (systemd-creds available, AIRLOCK_AGENT_SEAL=systemd-creds)', { timeout: 180_000 }, () => {
  it('keeps no plaintext cak_ or private key in any file, says sealed, and renew, rotate and the tunnel key still work', async () => {
    const host = await makeHost();
    const sealEnv = { ...host.env, AIRLOCK_AGENT_SEAL: 'systemd-creds' };
    const { key, stateDir, out } = await enroll(sealEnv);
    expect(out).toMatch(/Secrets sealed to this host with systemd-creds/);

    const files = await allFiles(stateDir);
    expect([...files.keys()].sort()).toEqual(expect.arrayContaining(['agent-key.cred', 'credentials.cred', 'credentials.json', 'id_ed25519.pub', 'sealed']));
    expect(files.has('id_ed25519')).toBe(false);
    expect(files.has(path.join('tls', 'key.pem'))).toBe(false);
    for (const [name, bytes] of files) {
      const text = bytes.toString('latin1');
      expect(text, name).not.toMatch(/cak_/);
      expect(text, name).not.toMatch(/PRIVATE KEY/);
    }
    expect(await fileMode(path.join(stateDir, 'agent-key.cred'))).toBe(0o600);
    expect(await fileMode(path.join(stateDir, 'credentials.cred'))).toBe(0o600);
    const stored = await readJson(path.join(stateDir, 'credentials.json'));
    expect(stored.agent_key).toBeUndefined();
    expect(stored.private_key_file).toBe(path.join(stateDir, 'agent-key.cred'));

    // The cak_ in credentials.cred is the one the server knows.
    const cak = await sealedAgentKey(host, stateDir);
    expect(cak).toMatch(/^cak_/);
    expect((await verifyAgentKey(stack, cak)).status).toBe(200);

    const status = await statusJson(stateDir, sealEnv);
    expect(status.code).toBe(0);
    expect(status.report).toMatchObject({ enrolled: true, protection: 'sealed (systemd-creds)', private_key_file: path.join(stateDir, 'agent-key.cred') });
    const text = await run(['status', '--state-dir', stateDir], sealEnv);
    expect(text.out).toMatch(/Protection: {3}sealed \(systemd-creds\)/);

    // renew proves the sealed key; --rotate-key re-seals a new cak_ (still nothing in plaintext).
    const renewed = await run(['renew', '--state-dir', stateDir, '--force'], sealEnv);
    expect(renewed.code, renewed.out + renewed.err).toBe(0);
    const rotated = await run(['renew', '--state-dir', stateDir, '--rotate-key'], sealEnv);
    expect(rotated.code, rotated.out + rotated.err).toBe(0);
    const cak2 = await sealedAgentKey(host, stateDir);
    expect(cak2).not.toBe(cak);
    expect((await verifyAgentKey(stack, cak2)).status).toBe(200);
    expect((await verifyAgentKey(stack, cak)).status).not.toBe(200);
    for (const [name, bytes] of await allFiles(stateDir)) expect(bytes.toString('latin1'), name).not.toMatch(/cak_|PRIVATE KEY/);

    // No secret on systemd-creds' command line, ever.
    const argvLog = await fs.readFile(host.log, 'utf8');
    expect(argvLog).toMatch(/^encrypt --with-key=auto --name=agent-key - -$/m);
    expect(argvLog).toMatch(/^decrypt --name=credentials - -$/m);
    expect(argvLog).not.toMatch(/cak_|PRIVATE KEY/);

    // The tunnel: ssh -i gets the decrypted key in a 0600 file under RUNTIME_DIRECTORY, gone once the tunnel stops.
    const sshLog = path.join(scratch, `ssh-${randomBytes(4).toString('hex')}.log`);
    const fakeSsh = path.join(host.bin, 'fake-ssh');
    await fs.writeFile(
      fakeSsh,
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -i ] && { printf '%s %s\\n' "$2" "$(stat -c %a "$2")" >>'${sshLog}'; ssh-keygen -y -f "$2" >>'${sshLog}'; }; shift; done\necho 'Authenticated to tunnel.example (via proxy).' >&2\nexec sleep 600\n`,
      { mode: 0o755 },
    );
    const withSsh = { ...stored, ssh: { host: 'tunnel.example', port: 2222, user: 'airlock', known_hosts: '[tunnel.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', permit_open: ['127.0.0.1:9'] } };
    await fs.writeFile(path.join(stateDir, 'credentials.json'), JSON.stringify(withSsh));
    const tunnel = runAgent(['tunnel', '--state-dir', stateDir, '--ssh', fakeSsh], sealEnv);
    await tunnel.waitFor(/tunnel: up/);
    const [line, pub] = (await fs.readFile(sshLog, 'utf8')).trim().split('\n');
    const [keyFile, mode] = (line ?? '').split(' ');
    expect(keyFile?.startsWith(`${host.runtime}/`)).toBe(true);
    expect(mode).toBe('600');
    expect(pub?.split(' ').slice(0, 2).join(' ')).toBe((await fs.readFile(path.join(stateDir, 'id_ed25519.pub'), 'utf8')).split(' ').slice(0, 2).join(' '));
    tunnel.child.kill('SIGTERM');
    expect(await tunnel.exit).toBe(0);
    expect(await fs.readdir(host.runtime)).toEqual([]);

    // rotate-key: the new key is sealed too (agent-key.next.cred, then agent-key.cred), and renew proves it.
    const before = await fs.readFile(path.join(stateDir, 'id_ed25519.pub'), 'utf8');
    const rekey = await run(['rotate-key', '--state-dir', stateDir], { ...sealEnv, AIRLOCK_ENROLLMENT_KEY: key });
    expect(rekey.code, rekey.out + rekey.err).toBe(0);
    expect(await fs.readFile(path.join(stateDir, 'id_ed25519.pub'), 'utf8')).not.toBe(before);
    const after = await allFiles(stateDir);
    expect(after.has('agent-key.next.cred') || after.has('id_ed25519.next') || after.has('id_ed25519')).toBe(false);
    for (const [name, bytes] of after) expect(bytes.toString('latin1'), name).not.toMatch(/cak_|PRIVATE KEY/);
    const proved = await run(['renew', '--state-dir', stateDir, '--force'], sealEnv);
    expect(proved.code, proved.out + proved.err).toBe(0);
  });

  it('copied to another host, the state directory cannot be used: a clear message, no secret', async () => {
    const hostA = await makeHost();
    const { stateDir } = await enroll({ ...hostA.env, AIRLOCK_AGENT_SEAL: 'systemd-creds' });
    const hostB = await makeHost();
    const copy = path.join(scratch, `copy-${randomBytes(4).toString('hex')}`);
    await fs.cp(stateDir, copy, { recursive: true });
    // credentials.json names files by absolute path; the copy is read from its own directory.
    const renew = await run(['renew', '--state-dir', copy, '--force'], hostB.env);
    expect(renew.code).toBe(1);
    expect(renew.err + renew.out).toMatch(/cannot be decrypted on this machine .*sealed to another host/);
    expect(renew.err + renew.out).not.toMatch(/cak_/);
    // status still answers (it decrypts nothing) and says the copy is sealed.
    expect((await statusJson(copy, hostB.env)).report).toMatchObject({ enrolled: true, protection: 'sealed (systemd-creds)' });
    // Without systemd-creds at all, the message says so.
    const none = await run(['renew', '--state-dir', copy, '--force'], await noCredsEnv());
    expect(none.code).toBe(1);
    expect(none.err + none.out).toMatch(/sealed with systemd-creds, but systemd-creds is not installed here/);
  });
});

describe('0600 files (no sealing)', { timeout: 120_000 }, () => {
  it('without AIRLOCK_AGENT_SEAL: plaintext 0600 files, and status says so', async () => {
    const host = await makeHost();
    const { stateDir } = await enroll(host.env);
    expect(await fileMode(path.join(stateDir, 'id_ed25519'))).toBe(0o600);
    expect(await fileMode(path.join(stateDir, 'credentials.json'))).toBe(0o600);
    expect(String((await readJson(path.join(stateDir, 'credentials.json'))).agent_key)).toMatch(/^cak_/);
    await expect(fs.access(path.join(stateDir, 'sealed'))).rejects.toThrow();
    expect((await statusJson(stateDir, host.env)).report).toMatchObject({ enrolled: true, protection: '0600 files' });
    expect((await run(['status', '--state-dir', stateDir], host.env)).out).toMatch(/Protection: {3}0600 files \(not sealed/);
    await expect(fs.access(host.log)).rejects.toThrow();
  });

  it('AIRLOCK_AGENT_SEAL=systemd-creds where systemd-creds is missing: refused before anything is sent', async () => {
    const site = await createSite(stack, 'auto');
    const stateDir = await tempStateDir();
    const r = await run(['enroll', '--server', stack.apiUrl, '--insecure', '--site', site, '--machine-uid', 'm-nocreds', '--state-dir', stateDir], {
      ...(await noCredsEnv()),
      AIRLOCK_AGENT_SEAL: 'systemd-creds',
      AIRLOCK_ENROLLMENT_KEY: await rotateEnrollmentKey(stack, site),
    });
    expect(r.code).toBe(1);
    expect(r.err + r.out).toMatch(/systemd-creds is not installed here/);
    await expect(fs.access(path.join(stateDir, 'id_ed25519'))).rejects.toThrow();
  });
});
