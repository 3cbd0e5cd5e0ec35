/**
 * Airlock's installer signing key (issue 23): its own Ed25519 key, not the
 * CA's, kept under the data directory as an OpenSSH private key file (0600,
 * so `ssh-keygen -Y sign -f` could use it too). Rotation keeps the previous
 * key listed in `allowed_signers` until the next rotation, so installers
 * signed just before a rotation still verify during the overlap.
 *
 *   <data dir>/installer-signing/current.key    signs new installers
 *   <data dir>/installer-signing/previous.key   listed only
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  encodeOpenSshPrivateKey,
  encodeSshEd25519PublicKey,
  generateAgentKeyPair,
  INSTALLER_NAMESPACE,
  parseOpenSshPrivateKey,
  parseSshEd25519PublicKey,
  signSshsig,
  sshFingerprint,
} from '@airlock/crypto';

/** The principal `ssh-keygen -Y verify -I` names; the allowed_signers lines carry it. */
const SIGNER_PRINCIPAL = 'airlock';
const COMMENT = 'airlock-installer-signing';

export interface SignerKey {
  publicKey: string;
  fingerprint: string;
  current: boolean;
}

const dirOf = (dataDir: string) => path.join(dataDir, 'installer-signing');
const currentPath = (dataDir: string) => path.join(dirOf(dataDir), 'current.key');
const previousPath = (dataDir: string) => path.join(dirOf(dataDir), 'previous.key');

const readKey = (file: string): { secretKey: Uint8Array; publicKey: Uint8Array } | null => {
  try {
    return parseOpenSshPrivateKey(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

/**
 * Writes a fresh key at `target` unless one is there: written to a private
 * temp name, then hard-linked into place, which fails if another request or
 * process won the race (its key is then the one used).
 */
const createKeyIfAbsent = (dataDir: string, target: string): void => {
  mkdirSync(dirOf(dataDir), { recursive: true, mode: 0o700 });
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, encodeOpenSshPrivateKey(generateAgentKeyPair().secretKey, COMMENT), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
};

const currentKey = (dataDir: string) => {
  const existing = readKey(currentPath(dataDir));
  if (existing) return existing;
  createKeyIfAbsent(dataDir, currentPath(dataDir));
  const made = readKey(currentPath(dataDir));
  if (!made) throw new Error('installer signing key vanished after it was written');
  return made;
};

const describe = (publicKey: Uint8Array, current: boolean): SignerKey => {
  const line = encodeSshEd25519PublicKey(publicKey, COMMENT);
  return { publicKey: line, fingerprint: sshFingerprint(parseSshEd25519PublicKey(line).blob), current };
};

/** Current key first (made on first use), then the previous one if a rotation kept it. */
export const signerKeys = (dataDir: string): SignerKey[] => {
  const current = currentKey(dataDir);
  const previous = readKey(previousPath(dataDir));
  return [describe(current.publicKey, true), ...(previous ? [describe(previous.publicKey, false)] : [])];
};

/** The allowed_signers file: `airlock namespaces="airlock-installer" ssh-ed25519 AAAA… comment`. */
export const allowedSigners = (keys: readonly SignerKey[]): string =>
  keys.map((k) => `${SIGNER_PRINCIPAL} namespaces="${INSTALLER_NAMESPACE}" ${k.publicKey}\n`).join('');

/** The armored SSHSIG of `file` by the current key, and that key's fingerprint. */
export const signInstaller = (dataDir: string, file: Uint8Array): { signature: string; signerFingerprint: string } => {
  const key = currentKey(dataDir);
  return { signature: signSshsig(key.secretKey, file, INSTALLER_NAMESPACE), signerFingerprint: describe(key.publicKey, true).fingerprint };
};

/**
 * The current key becomes the previous one (an older previous key is dropped)
 * and a new key becomes current. One api process: rotations are serialised by
 * the caller; several api replicas must share the data directory's key by
 * other means (docs/known-limits.md).
 */
export const rotateSigningKey = (dataDir: string): SignerKey[] => {
  currentKey(dataDir);
  renameSync(currentPath(dataDir), previousPath(dataDir));
  createKeyIfAbsent(dataDir, currentPath(dataDir));
  return signerKeys(dataDir);
};
