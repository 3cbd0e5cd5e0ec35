import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeOpenSshPrivateKey, encodeSshEd25519PublicKey, parseOpenSshPrivateKey, parseSshEd25519PublicKey } from './ssh.ts';
import { generateAgentKeyPair, verifyEnrollmentSignature } from './signatures.ts';
import { INSTALLER_NAMESPACE, signSshsig } from './sshsig.ts';
import { keygenEd25519, keygenSign, makeTempDir } from './test-support.ts';

const tmp = makeTempDir();
afterAll(() => tmp.remove());

/** Stock `ssh-keygen -Y verify` with an allowed_signers file, as an operator runs it. */
const opensshVerifies = (publicLine: string, message: Buffer, signature: string, namespace = INSTALLER_NAMESPACE): boolean => {
  const signers = join(tmp.path, 'allowed_signers');
  const sig = join(tmp.path, 'file.sig');
  writeFileSync(signers, `airlock namespaces="${INSTALLER_NAMESPACE}" ${publicLine}\n`);
  writeFileSync(sig, signature);
  try {
    execFileSync('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'airlock', '-n', namespace, '-s', sig], { input: message, stdio: ['pipe', 'pipe', 'pipe'] });
    return true;
  } catch {
    return false;
  }
};

describe('signSshsig', () => {
  const { publicKey, secretKey } = generateAgentKeyPair();
  const publicLine = encodeSshEd25519PublicKey(publicKey, 'installer-signing');
  const message = Buffer.concat([Buffer.from('#!/bin/sh\n'), Buffer.alloc(70_000, 0x41)]);

  it('writes a signature stock ssh-keygen -Y verify accepts', () => {
    expect(opensshVerifies(publicLine, message, signSshsig(secretKey, message, INSTALLER_NAMESPACE))).toBe(true);
  });

  it('is refused by ssh-keygen for a changed byte, another namespace or another key', () => {
    const signature = signSshsig(secretKey, message, INSTALLER_NAMESPACE);
    const tampered = Buffer.from(message);
    tampered.writeUInt8(tampered.readUInt8(5) ^ 1, 5);
    expect(opensshVerifies(publicLine, tampered, signature)).toBe(false);
    expect(opensshVerifies(publicLine, message, signSshsig(secretKey, message, 'airlock-enroll'))).toBe(false);
    const other = generateAgentKeyPair();
    expect(opensshVerifies(encodeSshEd25519PublicKey(other.publicKey), message, signature)).toBe(false);
  });

  it('produces what our verifier accepts, as does ssh-keygen -Y sign with the same key file', () => {
    const blob = parseSshEd25519PublicKey(publicLine).blob;
    expect(verifyEnrollmentSignature(blob, message, signSshsig(secretKey, message, INSTALLER_NAMESPACE), INSTALLER_NAMESPACE)).toBe(true);
    const keyPath = join(tmp.path, 'signing');
    writeFileSync(keyPath, encodeOpenSshPrivateKey(secretKey, 'installer-signing'), { mode: 0o600 });
    const fromOpenssh = keygenSign(keyPath, message, INSTALLER_NAMESPACE);
    expect(verifyEnrollmentSignature(blob, message, fromOpenssh, INSTALLER_NAMESPACE)).toBe(true);
  });

  it('signs with a key ssh-keygen made, read from its file', () => {
    const made = keygenEd25519(tmp.path, 'made', 'made');
    const parsed = parseOpenSshPrivateKey(execFileSync('cat', [made.privatePath], { encoding: 'utf8' }));
    expect(opensshVerifies(made.publicLine, message, signSshsig(parsed.secretKey, message, INSTALLER_NAMESPACE))).toBe(true);
  });
});
