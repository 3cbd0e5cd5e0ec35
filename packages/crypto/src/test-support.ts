// Test-only helpers that drive the real OpenSSH `ssh-keygen`, so that our
// encoders and verifiers are pinned against the implementation agents and
// operators actually use. Not in the package's main entry: tests elsewhere
// import `@airlock/crypto/test-support`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private temp directory for key files; call `remove()` when done. */
export const makeTempDir = (): { path: string; remove: () => void } => {
  const path = mkdtempSync(join(tmpdir(), 'airlock-crypto-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
};

let fileCounter = 0;
const uniqueName = (stem: string): string => `${stem}-${process.pid}-${++fileCounter}`;

const sshKeygen = (args: readonly string[], input?: Uint8Array): string =>
  execFileSync('ssh-keygen', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

/** `ssh-keygen -t ed25519 -N ''`: returns the private key path and public line. */
export const keygenEd25519 = (dir: string, name: string, comment: string): { privatePath: string; publicPath: string; publicLine: string } => {
  const privatePath = join(dir, name);
  sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privatePath]);
  const publicPath = `${privatePath}.pub`;
  return { privatePath, publicPath, publicLine: readFileSync(publicPath, 'utf8').trimEnd() };
};

/** The fingerprint field of `ssh-keygen -lf FILE`. */
export const keygenFingerprint = (path: string): string => {
  const fields = sshKeygen(['-lf', path]).trim().split(' ');
  const fingerprint = fields[1];
  if (fingerprint === undefined) throw new Error('unexpected ssh-keygen -lf output');
  return fingerprint;
};

/** `ssh-keygen -y -f FILE`: the public key line derived from a private key. */
export const keygenPublicFromPrivate = (privatePath: string): string => sshKeygen(['-y', '-f', privatePath]).trimEnd();

/** `ssh-keygen -Y sign -n NAMESPACE -f KEY` over `message`; returns the armored signature. */
export const keygenSign = (
  privatePath: string,
  message: Uint8Array,
  namespace: string,
  extraArgs: readonly string[] = [],
): string => {
  const messagePath = uniqueName(`${privatePath}.msg`);
  writeFileSync(messagePath, message);
  sshKeygen(['-q', '-Y', 'sign', '-n', namespace, ...extraArgs, '-f', privatePath, messagePath]);
  return readFileSync(`${messagePath}.sig`, 'utf8');
};

/** `ssh-keygen -Y check-novalidate`: true when OpenSSH accepts the signature. */
export const keygenCheck = (dir: string, signature: string, message: Uint8Array, namespace: string): boolean => {
  const sigPath = join(dir, `${uniqueName('check')}.sig`);
  writeFileSync(sigPath, signature);
  try {
    sshKeygen(['-Y', 'check-novalidate', '-n', namespace, '-s', sigPath], message);
    return true;
  } catch {
    return false;
  }
};

export const writePrivateKey = (dir: string, name: string, pem: string): string => {
  const path = join(dir, name);
  // ssh and ssh-keygen refuse private keys readable by others.
  writeFileSync(path, pem, { mode: 0o600 });
  return path;
};

export { nodeEd25519KeyPair } from './node-ed25519.ts';
