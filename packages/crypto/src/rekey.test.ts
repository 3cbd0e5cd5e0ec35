import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rekeyMessage, signRekey, verifyRekeySignature } from './rekey.ts';
import { generateAgentKeyPair, signRaw, signedMessage } from './signatures.ts';
import { encodeSshEd25519PublicKey, parseSshEd25519PublicKey, sshFingerprint } from './ssh.ts';

const ID = '0b6d5a4e-3c2b-4a19-8f7e-6d5c4b3a2f10';
const CHALLENGE = Buffer.alloc(32, 7).toString('base64');

const keyPair = () => {
  const kp = generateAgentKeyPair();
  const blob = parseSshEd25519PublicKey(encodeSshEd25519PublicKey(kp.publicKey)).blob;
  return { ...kp, blob, fingerprint: sshFingerprint(blob) };
};

describe('re-key proof', () => {
  it('binds the enrollment, the challenge and the new fingerprint', () => {
    expect(rekeyMessage(ID, CHALLENGE, 'SHA256:x').toString()).toBe(`airlock-rekey-v1\n${ID}\n${CHALLENGE}\nSHA256:x`);
    expect(() => rekeyMessage(ID, `${CHALLENGE}\n`, 'SHA256:x')).toThrow(TypeError);
  });

  it('verifies the old key over the new fingerprint, and nothing else', () => {
    const oldKey = keyPair();
    const newKey = keyPair();
    const sig = signRekey(oldKey.secretKey, ID, CHALLENGE, newKey.fingerprint);
    expect(verifyRekeySignature(oldKey.blob, ID, CHALLENGE, newKey.fingerprint, sig)).toBe(true);
    // Signed by the new key instead of the old one, or for another new key, challenge or enrollment: no.
    expect(verifyRekeySignature(oldKey.blob, ID, CHALLENGE, newKey.fingerprint, signRekey(newKey.secretKey, ID, CHALLENGE, newKey.fingerprint))).toBe(false);
    expect(verifyRekeySignature(oldKey.blob, ID, CHALLENGE, keyPair().fingerprint, sig)).toBe(false);
    expect(verifyRekeySignature(oldKey.blob, ID, Buffer.alloc(32, 8).toString('base64'), newKey.fingerprint, sig)).toBe(false);
    // The enrollment signature of the old key cannot stand in for a re-key proof.
    expect(verifyRekeySignature(oldKey.blob, ID, CHALLENGE, newKey.fingerprint, signRaw(oldKey.secretKey, signedMessage(ID, CHALLENGE)))).toBe(false);
    expect(verifyRekeySignature(oldKey.blob, ID, CHALLENGE, newKey.fingerprint, 'garbage')).toBe(false);
  });

  it('accepts ssh-keygen -Y sign -n airlock-rekey, and refuses the airlock-enroll namespace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rekey-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'old')]);
      const oldBlob = parseSshEd25519PublicKey(readFileSync(path.join(dir, 'old.pub'), 'utf8').trim()).blob;
      const newFp = keyPair().fingerprint;
      writeFileSync(path.join(dir, 'msg'), rekeyMessage(ID, CHALLENGE, newFp));
      const sign = (ns: string) => {
        execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', ns, '-f', path.join(dir, 'old'), path.join(dir, 'msg')]);
        const sig = readFileSync(path.join(dir, 'msg.sig'), 'utf8');
        rmSync(path.join(dir, 'msg.sig'));
        return sig;
      };
      expect(verifyRekeySignature(oldBlob, ID, CHALLENGE, newFp, sign('airlock-rekey'))).toBe(true);
      expect(verifyRekeySignature(oldBlob, ID, CHALLENGE, newFp, sign('airlock-enroll'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
