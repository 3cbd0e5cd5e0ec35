/**
 * Everything the tunnel prepares before sshd starts: the privilege separation
 * directory, the account checks, the host key, the keys helper, and the
 * sshd_config. Each failure says what to run to fix it.
 */
import { execFile } from 'node:child_process';
import { access, chmod, chown, constants, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TunnelConfig } from './env.ts';
import { renderSshdConfig } from './sshd-config.ts';

const run = promisify(execFile);

export class SetupError extends Error {
  override readonly name = 'SetupError';
}

const HELPER_SOURCE = fileURLToPath(new URL('../helper/airlock-keys.pl', import.meta.url));
export const HELPER_NAME = 'airlock-keys';
/** What earlier versions installed: a Node helper and a file holding the api token. Removed at install. */
const RETIRED_FILES = ['airlock-keys.cjs', 'airlock-keys.json'];
/** Debian's Essential perl-base: on every Debian and Ubuntu host, no install step. */
const PERL = '/usr/bin/perl';

export interface Account {
  uid: number;
  gid: number;
}

const lookupAccount = async (name: string): Promise<Account | null> => {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
};

/** The login account must exist and not be locked: with UsePAM no, sshd refuses a locked one before any key. */
export const checkAccounts = async (config: Pick<TunnelConfig, 'user' | 'keysUser'>): Promise<{ tunnel: Account; keys: Account }> => {
  const tunnel = await lookupAccount(config.user);
  if (!tunnel) {
    throw new SetupError(`Unix account ${config.user} does not exist: useradd --create-home --shell /usr/sbin/nologin ${config.user} && usermod -p '*' ${config.user}`);
  }
  const shadow = await readFile('/etc/shadow', 'utf8').catch(() => '');
  const hash = shadow.split('\n').find((l) => l.startsWith(`${config.user}:`))?.split(':')[1];
  if (hash !== undefined && hash.startsWith('!')) {
    throw new SetupError(`Unix account ${config.user} is locked (useradd leaves it so) and sshd would refuse it: usermod -p '*' ${config.user}`);
  }
  const keys = await lookupAccount(config.keysUser);
  if (!keys) throw new SetupError(`Unix account ${config.keysUser} (runs the keys helper) does not exist: useradd --system --no-create-home --shell /usr/sbin/nologin ${config.keysUser}`);
  // Sessions are told from pre-auth processes by their uid (issue 18): the two must differ, and neither be root.
  if (tunnel.uid === 0 || keys.uid === 0 || tunnel.uid === keys.uid) {
    throw new SetupError(`${config.user} and ${config.keysUser} must be two distinct accounts, neither of them root`);
  }
  return { tunnel, keys };
};

/** sshd exits with "Missing privilege separation directory" without it (a fresh openssh-server install has none). */
export const ensurePrivsepDir = async (): Promise<void> => {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await chmod('/run/sshd', 0o755);
};

/** The host key, made on first start; returns the public line `type base64`. */
export const ensureHostKey = async (keyPath: string): Promise<string> => {
  await mkdir(path.dirname(keyPath), { recursive: true, mode: 0o700 });
  const exists = await stat(keyPath).then(() => true, () => false);
  if (!exists) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'airlock-tunnel', '-f', keyPath]);
  await chmod(keyPath, 0o600);
  const pub = await readFile(`${keyPath}.pub`, 'utf8').catch(async () => (await run('ssh-keygen', ['-y', '-f', keyPath])).stdout);
  const [type, blob] = pub.trim().split(/\s+/);
  if (!type || !blob) throw new SetupError(`cannot read the public half of ${keyPath}`);
  return `${type} ${blob}`;
};

/** sshd's own rule for AuthorizedKeysCommand: root-owned, not group/world-writable, all the way up. */
const assertSafePath = async (target: string): Promise<void> => {
  for (let p = target; ; p = path.dirname(p)) {
    const s = await stat(p);
    if (s.uid !== 0 || (s.mode & 0o022) !== 0) {
      throw new SetupError(
        `${p} must be owned by root and not group- or world-writable, or sshd refuses every login ("Unsafe AuthorizedKeysCommand"); set TUNNEL_HELPER_DIR to a root-owned directory (not under /tmp)`,
      );
    }
    if (p === path.dirname(p)) return;
  }
};

const writeAtomic = async (file: string, content: string, mode: number, uid: number, gid: number) => {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await chown(tmp, uid, gid);
  await chmod(tmp, mode);
  await rename(tmp, file);
};

/**
 * Installs the keys helper: a root-owned Perl script that asks the keys
 * service over its socket. It holds no token and no config (issue 18,
 * findings 8 and 9); the token file earlier versions left here is removed.
 */
export const installKeysHelper = async (config: Pick<TunnelConfig, 'helperDir'>): Promise<string> => {
  if (process.getuid?.() !== 0) throw new SetupError('the tunnel must run as root: sshd needs it, and the keys helper must be root-owned');
  await access(PERL, constants.X_OK).catch(() => {
    throw new SetupError(`${PERL} not found: the keys helper needs Debian's perl-base (apt-get install perl-base)`);
  });
  await mkdir(config.helperDir, { recursive: true, mode: 0o755 });
  await chown(config.helperDir, 0, 0);
  await chmod(config.helperDir, 0o755);
  await assertSafePath(config.helperDir);
  const helper = path.join(config.helperDir, HELPER_NAME);
  await writeAtomic(helper, await readFile(HELPER_SOURCE, 'utf8'), 0o755, 0, 0);
  for (const old of RETIRED_FILES) await rm(path.join(config.helperDir, old), { force: true });
  await assertSafePath(helper);
  return helper;
};

/** The keys socket's directory must sit where only root can rename or replace it. */
export const checkKeysSocketPath = async (config: Pick<TunnelConfig, 'keysSocket'>): Promise<void> => {
  const parent = path.dirname(path.dirname(config.keysSocket));
  await mkdir(parent, { recursive: true, mode: 0o755 });
  try {
    await assertSafePath(parent);
  } catch {
    throw new SetupError(`${parent} (above TUNNEL_KEYS_SOCKET) must be root-owned and not group- or world-writable all the way up, or another account could swap the keys socket (not under /tmp)`);
  }
};

/** Issue 19: name the path that was looked at, not "sshd -t rejected the generated config". */
const checkSshd = async (config: Pick<TunnelConfig, 'sshd'>): Promise<void> => {
  const found = await stat(config.sshd).catch(() => null);
  if (!found) throw new SetupError(`sshd not found at ${config.sshd}: install openssh-server (or set TUNNEL_SSHD)`);
  await access(config.sshd, constants.X_OK).catch(() => {
    throw new SetupError(`${config.sshd} is not executable: set TUNNEL_SSHD to the sshd binary`);
  });
};

/** Writes sshd_config under the state directory and has sshd check it; returns its absolute path. */
export const writeSshdConfig = async (config: TunnelConfig, keysCommand: string): Promise<string> => {
  await checkSshd(config);
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const file = path.resolve(config.stateDir, 'sshd_config');
  const text = renderSshdConfig({
    host: config.host,
    port: config.port,
    user: config.user,
    hostKey: path.resolve(config.hostKey),
    keysCommand,
    keysSocket: config.keysSocket,
    // Longer than the keys service's own api timeout, so the service answers first.
    keysTimeoutSeconds: Math.min(99, Math.ceil(config.apiTimeoutMs / 1000) + 2),
    keysUser: config.keysUser,
  });
  await writeFile(file, text, { mode: 0o600 });
  try {
    await run(config.sshd, ['-t', '-f', file]);
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr).trim() : '';
    // PermitListen and the key option permitlisten came together (OpenSSH 7.8): without them sshd
    // could not hold each agent's -R to its own port, so the endpoint does not start at all.
    if (/PermitListen/i.test(stderr)) {
      throw new SetupError(
        `${config.sshd} does not support PermitListen / permitlisten (OpenSSH 7.8 or later is needed to keep each agent's reverse forward on its own port): upgrade openssh-server. sshd said: ${stderr}`,
      );
    }
    throw new SetupError(`sshd -t rejected the generated config: ${stderr || 'unknown error'}`);
  }
  return file;
};
