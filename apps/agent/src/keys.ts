import * as fs from 'node:fs/promises';
import {
  encodeOpenSshPrivateKey,
  encodeSshEd25519PublicKey,
  generateAgentKeyPair,
  parseOpenSshPrivateKey,
  parseSshEd25519PublicKey,
  sshFingerprint,
} from '@airlock/crypto';
import { isSealed, readSealed, sealedKeyPath, writeSealed } from './sealed.ts';
import { StateError, fileMode, isNotFound, writeFileAtomic, type StatePaths } from './state.ts';

export interface AgentKey {
  /** 64-byte tweetnacl secret key (seed + public key). */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** `ssh-ed25519 AAAA… comment`, as sent to the server. */
  publicLine: string;
  /** `SHA256:…`, exactly what `ssh-keygen -lf` prints and what the operator sees. */
  fingerprint: string;
  generated: boolean;
}

/** Comments travel in the public key line; the contract allows 100 printable ASCII chars. */
const keyComment = (hostname: string): string => hostname.replace(/[^\x21-\x7e]/g, '').slice(0, 100);

const describe = (secretKey: Uint8Array, publicKey: Uint8Array, comment: string, generated: boolean): AgentKey => {
  const publicLine = encodeSshEd25519PublicKey(publicKey, comment);
  return { secretKey, publicKey, publicLine, fingerprint: sshFingerprint(parseSshEd25519PublicKey(publicLine).blob), generated };
};

/** Where the private key is: id_ed25519, or agent-key.cred when the state is sealed. */
export const privateKeyFile = async (paths: StatePaths): Promise<string> =>
  (await isSealed(paths)) ? sealedKeyPath(paths.privateKey) : paths.privateKey;

/** `file` is the plaintext name (id_ed25519, id_ed25519.next); sealed, it is written as its .cred instead. */
const writePrivateKey = async (paths: StatePaths, file: string, pem: string): Promise<void> =>
  (await isSealed(paths)) ? writeSealed(sealedKeyPath(file), 'agent-key', pem) : writeFileAtomic(file, pem, 0o600);

/** The OpenSSH private key text, ready for `ssh -i` once in a file (tunnel), or null when there is none. */
export const readPrivateKeyPem = async (paths: StatePaths): Promise<string | null> => {
  if (await isSealed(paths)) return readSealed(sealedKeyPath(paths.privateKey), 'agent-key');
  try {
    return await fs.readFile(paths.privateKey, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
};

/**
 * Reuses the key already in the state directory (so a re-enroll or a resume
 * keeps the identity the operator approved), or generates one. The private key
 * is written in OpenSSH format, 0600, so `ssh -i id_ed25519` works for the
 * tunnel later.
 */
export const loadOrCreateKey = async (paths: StatePaths, hostname: string): Promise<AgentKey> => {
  const existing = await loadKey(paths, hostname);
  if (existing !== null) return existing;
  const comment = keyComment(hostname);
  const pair = generateAgentKeyPair();
  const key = describe(pair.secretKey, pair.publicKey, comment, true);
  await writePrivateKey(paths, paths.privateKey, encodeOpenSshPrivateKey(pair.secretKey, comment));
  await writeFileAtomic(paths.publicKey, `${key.publicLine}\n`, 0o644);
  return key;
};

/**
 * The key already in the state directory, or null. Renewal and recovery use
 * this: only the enrolled key can prove anything, so a missing one is never
 * replaced by a new one there.
 */
export const loadKey = async (paths: StatePaths, hostname: string): Promise<AgentKey | null> => {
  const comment = keyComment(hostname);
  const pem = await readPrivateKeyPem(paths);
  if (pem !== null) {
    const file = await privateKeyFile(paths);
    let parsed: ReturnType<typeof parseOpenSshPrivateKey>;
    try {
      parsed = parseOpenSshPrivateKey(pem);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new StateError(`${file} is not an unencrypted OpenSSH Ed25519 key (${reason}); move it away to generate a new one`);
    }
    // ssh refuses a private key others can read; keep it usable and private.
    if ((await fileMode(file)) !== 0o600) await fs.chmod(file, 0o600);
    const key = describe(parsed.secretKey, parsed.publicKey, comment, false);
    if ((await fileMode(paths.publicKey)) === null) await writeFileAtomic(paths.publicKey, `${key.publicLine}\n`, 0o644);
    return key;
  }
  return null;
};

/**
 * A fresh key pair for `rotate-key`, written to `file` (0600; sealed, its .cred) before anything
 * is sent: the server may switch to it the moment it approves, so it must
 * already be on disk. `promoteKey` makes it the agent's key afterwards.
 */
export const generateKeyAt = async (paths: StatePaths, file: string, hostname: string): Promise<AgentKey> => {
  const comment = keyComment(hostname);
  const pair = generateAgentKeyPair();
  await writePrivateKey(paths, file, encodeOpenSshPrivateKey(pair.secretKey, comment));
  return describe(pair.secretKey, pair.publicKey, comment, true);
};

/** Moves the key written by generateKeyAt into place as id_ed25519 (+ .pub): one rename, so a crash leaves one or the other. */
export const promoteKey = async (paths: StatePaths, file: string, key: AgentKey): Promise<void> => {
  if (await isSealed(paths)) await fs.rename(sealedKeyPath(file), sealedKeyPath(paths.privateKey));
  else await fs.rename(file, paths.privateKey);
  await writeFileAtomic(paths.publicKey, `${key.publicLine}\n`, 0o644);
};
