import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateError, isNotFound, writeFileAtomic, type StatePaths } from './state.ts';

/**
 * Sealed state (docs/installers.md#protection-of-the-agents-secrets): the
 * agent's two secrets, its `cak_` and its private key, encrypted to this host
 * with `systemd-creds encrypt --with-key=auto` (the TPM2 when there is one,
 * else the host key in /var/lib/systemd/credential.secret), so a copied state
 * directory is useless elsewhere. Only state.ts and keys.ts call this module;
 * everything else reads and writes through them.
 *
 *   sealed              marker: "systemd-creds", written before any secret
 *   credentials.cred    the cak_ (credentials.json keeps the rest, no secret)
 *   agent-key.cred      the OpenSSH private key (id_ed25519 is not written)
 *
 * Secrets go to systemd-creds on stdin and come back on stdout, never argv.
 */
export type Protection = 'sealed (systemd-creds)' | '0600 files';

const MARKER = 'sealed';
const MARKER_TEXT = 'systemd-creds\n';
/** The credential names systemd-creds embeds and checks (LoadCredentialEncrypted= uses the same). */
export type SecretName = 'agent-key' | 'credentials';

const markerPath = (paths: StatePaths) => path.join(paths.dir, MARKER);
export const credentialsCredPath = (paths: StatePaths) => path.join(paths.dir, 'credentials.cred');

/** id_ed25519 → agent-key.cred, id_ed25519.next → agent-key.next.cred: where a key file lives once sealed. */
export const sealedKeyPath = (file: string): string =>
  path.join(path.dirname(file), path.basename(file).replace(/^id_ed25519/, 'agent-key') + '.cred');

export const isSealed = async (paths: StatePaths): Promise<boolean> => {
  try {
    return (await fs.readFile(markerPath(paths), 'utf8')) === MARKER_TEXT;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
};

export const protectionOf = async (paths: StatePaths): Promise<Protection> => ((await isSealed(paths)) ? 'sealed (systemd-creds)' : '0600 files');

interface Ran {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  missing: boolean;
}

const runCreds = (args: string[], input: Buffer | string): Promise<Ran> =>
  new Promise((resolve) => {
    const child = spawn('systemd-creds', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let missing = false;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
    child.on('error', (error) => {
      missing = isNotFound(error);
      stderr += error.message;
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: stderr.trim().replace(/[^\x20-\x7e]/g, '?'), missing }));
  });

const encrypt = async (name: SecretName | 'airlock-probe', plain: string): Promise<Buffer> => {
  const ran = await runCreds(['encrypt', '--with-key=auto', `--name=${name}`, '-', '-'], plain);
  if (ran.missing) throw new StateError('sealing needs systemd-creds, but systemd-creds is not installed here (or not on PATH)');
  if (ran.code !== 0 || ran.stdout.length === 0) throw new StateError(`systemd-creds could not encrypt the ${name} (${ran.stderr || `exit ${ran.code}`})`);
  return ran.stdout;
};

const decrypt = async (file: string, name: SecretName | 'airlock-probe', sealed: Buffer): Promise<string> => {
  const ran = await runCreds(['decrypt', `--name=${name}`, '-', '-'], sealed);
  if (ran.missing) throw new StateError(`${file} is sealed with systemd-creds, but systemd-creds is not installed here`);
  if (ran.code !== 0) {
    throw new StateError(
      `${file} cannot be decrypted on this machine (systemd-creds: ${ran.stderr || `exit ${ran.code}`}). ` +
        'It was sealed to another host, or this host\'s TPM2 or host key changed: a copied state directory does not work elsewhere. ' +
        'Move this state directory away and enroll this machine anew, or use it on the original machine.',
    );
  }
  return ran.stdout.toString('utf8');
};

/** Encrypts `plain` and writes it atomically, 0600 (the ciphertext is not secret, but nobody else needs it). */
export const writeSealed = async (file: string, name: SecretName, plain: string): Promise<void> => {
  await writeFileAtomic(file, await encrypt(name, plain), 0o600);
};

/** The decrypted text, or null when the file does not exist. */
export const readSealed = async (file: string, name: SecretName): Promise<string | null> => {
  let sealed: Buffer;
  try {
    sealed = await fs.readFile(file);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
  return decrypt(file, name, sealed);
};

/**
 * AIRLOCK_AGENT_SEAL at enrollment: `systemd-creds` seals a fresh state
 * directory (refused if systemd-creds cannot round-trip a probe here), `off`
 * or unset keeps 0600 files. Only a state directory without secrets yet is
 * switched; an existing one keeps its protection.
 */
export const applySealRequest = async (paths: StatePaths, env: NodeJS.ProcessEnv): Promise<Protection> => {
  const wanted = env.AIRLOCK_AGENT_SEAL?.trim() ?? '';
  if (wanted === '' || wanted === 'off' || (await isSealed(paths))) return protectionOf(paths);
  if (wanted !== 'systemd-creds') throw new StateError(`AIRLOCK_AGENT_SEAL=${wanted.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')} is not understood; use systemd-creds or off`);
  const holdsSecrets = await Promise.all([paths.privateKey, paths.credentials].map((f) => fs.stat(f).then(() => true, () => false)));
  if (holdsSecrets.some(Boolean)) return '0600 files';
  const probe = 'airlock-seal-probe';
  const sealed = await encrypt('airlock-probe', probe);
  const back = await decrypt('a probe', 'airlock-probe', sealed).catch((error: unknown) => (error instanceof StateError ? null : Promise.reject(error)));
  if (back !== probe) throw new StateError('systemd-creds cannot decrypt what it just encrypted here; not sealing (unset AIRLOCK_AGENT_SEAL for 0600 files)');
  await writeFileAtomic(markerPath(paths), MARKER_TEXT, 0o600);
  return 'sealed (systemd-creds)';
};

/**
 * For `ssh -i`, which needs a file: the decrypted key in a 0700 directory
 * under $RUNTIME_DIRECTORY (the tunnel unit's /run/airlock-agent, a tmpfs),
 * else $XDG_RUNTIME_DIR, else the temp directory. `remove` deletes it; the
 * caller runs it on every exit. A SIGKILL leaves it until /run is cleared
 * (the unit's RuntimeDirectory= is removed when the service stops).
 */
export const runtimeKeyFile = async (pem: string, env: NodeJS.ProcessEnv): Promise<{ file: string; remove: () => Promise<void> }> => {
  const base = [env.RUNTIME_DIRECTORY?.split(':')[0], env.XDG_RUNTIME_DIR].find((d) => d !== undefined && path.isAbsolute(d)) ?? os.tmpdir();
  const dir = await fs.mkdtemp(path.join(base, 'airlock-agent-key-'));
  await fs.chmod(dir, 0o700);
  const file = path.join(dir, 'id_ed25519');
  await writeFileAtomic(file, pem, 0o600);
  return { file, remove: () => fs.rm(dir, { recursive: true, force: true }) };
};
