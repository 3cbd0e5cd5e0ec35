import { createHash, createPublicKey, sign, verify } from 'node:crypto';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENROLL_NAMESPACE,
  generateAgentKeyPair,
  newChallenge,
  signRaw,
  signedMessage,
  verifyEnrollmentSignature,
} from './signatures.ts';
import { encodeOpenSshPrivateKey, encodeSshEd25519PublicKey, parseSshEd25519PublicKey } from './ssh.ts';
import { keygenCheck, keygenEd25519, keygenSign, makeTempDir, writePrivateKey } from './test-support.ts';
import { nodeEd25519KeyPair } from './node-ed25519.ts';

// RFC 8032 §7.1 tests 1 and 2.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
] as const;

const ENROLLMENT_ID = '0b6d3c2e-7f1a-4d8e-9a51-2f0c7e4b9d13';
const CHALLENGE = 'q5S0oU1N4v1oAbCdEfGhIjKlMnOpQrStUvWxYz012345';

const str = (value: Uint8Array | string): Buffer => {
  const body = Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
};
const u32 = (value: number): Buffer => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
};
const blobOf = (rawPublicKey: Uint8Array): Buffer => parseSshEd25519PublicKey(encodeSshEd25519PublicKey(rawPublicKey)).blob;

const armor = (bytes: Buffer): string => {
  const body = bytes.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN SSH SIGNATURE-----\n${body.join('\n')}\n-----END SSH SIGNATURE-----\n`;
};

/** The SSHSIG blob, built field by field from PROTOCOL.sshsig, for hostile variants. */
const buildSshsig = (
  secretKey: Uint8Array,
  message: Uint8Array,
  overrides: Partial<{
    magic: string;
    version: number;
    publicKeyBlob: Buffer;
    namespace: string;
    signedNamespace: string;
    reserved: string;
    hash: string;
    signatureType: string;
    signatureTrailer: Buffer;
    trailer: Buffer;
  }> = {},
): Buffer => {
  const namespace = overrides.namespace ?? ENROLL_NAMESPACE;
  const hash = overrides.hash ?? 'sha512';
  const reserved = overrides.reserved ?? '';
  const digest = createHash(hash === 'sha256' ? 'sha256' : 'sha512').update(message).digest();
  const toSign = Buffer.concat([
    Buffer.from('SSHSIG'),
    str(overrides.signedNamespace ?? namespace),
    str(reserved),
    str(hash),
    str(digest),
  ]);
  const signature = nacl.sign.detached(toSign, secretKey);
  return Buffer.concat([
    Buffer.from(overrides.magic ?? 'SSHSIG'),
    u32(overrides.version ?? 1),
    str(overrides.publicKeyBlob ?? blobOf(secretKey.subarray(32))),
    str(namespace),
    str(reserved),
    str(hash),
    str(Buffer.concat([str(overrides.signatureType ?? 'ssh-ed25519'), str(signature), overrides.signatureTrailer ?? Buffer.alloc(0)])),
    overrides.trailer ?? Buffer.alloc(0),
  ]);
};

let tmp: ReturnType<typeof makeTempDir>;
beforeAll(() => {
  tmp = makeTempDir();
});
afterAll(() => tmp.remove());

describe('newChallenge', () => {
  it('is 32 random bytes in standard base64 with padding', () => {
    const challenge = newChallenge();
    expect(challenge).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(challenge, 'base64')).toHaveLength(32);
  });

  it('never repeats', () => {
    expect(new Set(Array.from({ length: 1000 }, () => newChallenge())).size).toBe(1000);
  });
});

describe('signedMessage', () => {
  it('is the versioned, newline-separated message with no trailing newline', () => {
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    expect(message.toString('utf8')).toBe(`airlock-enroll-v1\n${ENROLLMENT_ID}\n${CHALLENGE}`);
    expect(message.at(-1)).toBe(CHALLENGE.charCodeAt(CHALLENGE.length - 1));
    expect(message.toString('hex').startsWith('6169726c6f636b2d656e726f6c6c2d76310a')).toBe(true);
  });

  it('refuses a newline in either part, which would make messages ambiguous', () => {
    expect(() => signedMessage(`${ENROLLMENT_ID}\n`, CHALLENGE)).toThrow(TypeError);
    expect(() => signedMessage(ENROLLMENT_ID, `\n${CHALLENGE}`)).toThrow(TypeError);
  });

  it('names the namespace used by ssh-keygen -Y sign', () => {
    expect(ENROLL_NAMESPACE).toBe('airlock-enroll');
  });
});

describe('raw Ed25519 signatures', () => {
  it('reproduces and verifies the RFC 8032 vectors', () => {
    for (const vector of RFC8032) {
      const pair = nacl.sign.keyPair.fromSeed(Buffer.from(vector.seed, 'hex'));
      expect(Buffer.from(pair.publicKey).toString('hex')).toBe(vector.publicKey);
      const message = Buffer.from(vector.message, 'hex');
      const signature = signRaw(pair.secretKey, message);
      expect(Buffer.from(signature, 'base64').toString('hex')).toBe(vector.signature);
      expect(verifyEnrollmentSignature(blobOf(pair.publicKey), message, signature)).toBe(true);
    }
  });

  it('verifies with node:crypto what tweetnacl signed, for the enrollment message', () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey, secretKey } = generateAgentKeyPair();
      const message = signedMessage(ENROLLMENT_ID, newChallenge());
      expect(verifyEnrollmentSignature(blobOf(publicKey), message, signRaw(secretKey, message))).toBe(true);
    }
  });

  it('produces signatures that tweetnacl verifies when node:crypto signs', () => {
    for (let i = 0; i < 20; i++) {
      const { privateKey, raw } = nodeEd25519KeyPair();
      const message = signedMessage(ENROLLMENT_ID, newChallenge());
      const signature = sign(null, message, privateKey);
      expect(nacl.sign.detached.verify(message, signature, raw)).toBe(true);
      expect(verifyEnrollmentSignature(blobOf(raw), message, signature.toString('base64'))).toBe(true);
    }
  });

  it('refuses a signature over another message or by another key', () => {
    const { publicKey, secretKey } = generateAgentKeyPair();
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    const signature = signRaw(secretKey, message);
    expect(verifyEnrollmentSignature(blobOf(publicKey), signedMessage(ENROLLMENT_ID, newChallenge()), signature)).toBe(false);
    expect(verifyEnrollmentSignature(blobOf(generateAgentKeyPair().publicKey), message, signature)).toBe(false);
  });

  it('refuses any single flipped bit in the signature', () => {
    const { publicKey, secretKey } = generateAgentKeyPair();
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    const signature = Buffer.from(signRaw(secretKey, message), 'base64');
    for (let bit = 0; bit < 512; bit += 7) {
      const flipped = Buffer.from(signature);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(verifyEnrollmentSignature(blobOf(publicKey), message, flipped.toString('base64'))).toBe(false);
    }
  });

  it('refuses signature encodings other than strict padded standard base64', () => {
    const { publicKey, secretKey } = generateAgentKeyPair();
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    const good = signRaw(secretKey, message);
    const blob = blobOf(publicKey);
    expect(verifyEnrollmentSignature(blob, message, good)).toBe(true);
    const bytes = Buffer.from(good, 'base64');
    for (const bad of [
      good.replace(/==$/, ''),
      `${good}\n`,
      ` ${good}`,
      bytes.toString('base64url'),
      bytes.toString('hex'),
      good.replace(/.==$/, (tail) => `${String.fromCharCode((tail.charCodeAt(0) ^ 1))}==`),
      Buffer.concat([bytes, Buffer.from([0])]).toString('base64'),
      bytes.subarray(0, 63).toString('base64'),
      '',
      'garbage',
    ]) {
      expect(verifyEnrollmentSignature(blob, message, bad)).toBe(false);
    }
  });

  it('refuses hostile inputs without throwing', () => {
    const { publicKey, secretKey } = generateAgentKeyPair();
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    const signature = signRaw(secretKey, message);
    const blob = blobOf(publicKey);
    const hostile: [Uint8Array, Uint8Array, unknown][] = [
      [blob, message, 'A'.repeat(5000)],
      [blob, message, `-----BEGIN SSH SIGNATURE-----\n${'A'.repeat(5000)}`],
      [blob, message, undefined],
      [blob, message, 42],
      [blob, message, null],
      [Buffer.concat([blob, Buffer.from([0])]), message, signature],
      [blob.subarray(0, 50), message, signature],
      [new Uint8Array(0), message, signature],
      [Buffer.from(publicKey), message, signature],
      [Buffer.concat([str('ssh-rsa'), str(publicKey)]), message, signature],
      [blob, 'not bytes' as unknown as Uint8Array, signature],
      [null as unknown as Uint8Array, message, signature],
    ];
    for (const [key, data, sig] of hostile) {
      expect(() => verifyEnrollmentSignature(key, data, sig as string)).not.toThrow();
      expect(verifyEnrollmentSignature(key, data, sig as string)).toBe(false);
    }
  });

  it('refuses a forged signature for a small-order key that OpenSSL alone would accept', () => {
    // With the identity point as "public key", R = identity and S = 0 satisfy
    // the cofactorless equation for every message. Nobody holds a private key
    // for it, so this is a forgery anyone can make.
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    const forged = Buffer.concat([identity, Buffer.alloc(32)]);
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    const keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: identity.toString('base64url') }, format: 'jwk' });
    expect(verify(null, message, keyObject, forged)).toBe(true);
    const blob = Buffer.concat([str('ssh-ed25519'), str(identity)]);
    expect(verifyEnrollmentSignature(blob, message, forged.toString('base64'))).toBe(false);
  });

  it('keeps verifying correctly after the key cache has evicted old keys', () => {
    const first = nodeEd25519KeyPair();
    const firstRaw = first.raw;
    const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
    const firstSignature = sign(null, message, first.privateKey).toString('base64');
    expect(verifyEnrollmentSignature(blobOf(firstRaw), message, firstSignature)).toBe(true);
    for (let i = 0; i < 1100; i++) {
      const { privateKey, raw } = nodeEd25519KeyPair();
      const signature = sign(null, message, privateKey).toString('base64');
      expect(verifyEnrollmentSignature(blobOf(raw), message, signature)).toBe(true);
      // A cached key must never vouch for a signature made by another key.
      expect(verifyEnrollmentSignature(blobOf(firstRaw), message, signature)).toBe(false);
    }
    expect(verifyEnrollmentSignature(blobOf(firstRaw), message, firstSignature)).toBe(true);
  });
});

describe('SSHSIG signatures from ssh-keygen -Y sign', () => {
  const message = signedMessage(ENROLLMENT_ID, CHALLENGE);
  let key: ReturnType<typeof keygenEd25519>;
  let blob: Buffer;
  let armored: string;

  beforeAll(() => {
    key = keygenEd25519(tmp.path, 'agent', 'vma-01');
    blob = parseSshEd25519PublicKey(key.publicLine).blob;
    armored = keygenSign(key.privatePath, message, ENROLL_NAMESPACE);
  });

  it('verifies a signature made by ssh-keygen in the airlock-enroll namespace', () => {
    expect(armored.startsWith('-----BEGIN SSH SIGNATURE-----\n')).toBe(true);
    expect(verifyEnrollmentSignature(blob, message, armored)).toBe(true);
  });

  it('tolerates CRLF line endings and a missing or doubled final newline', () => {
    expect(verifyEnrollmentSignature(blob, message, armored.replace(/\n/g, '\r\n'))).toBe(true);
    expect(verifyEnrollmentSignature(blob, message, armored.trimEnd())).toBe(true);
    expect(verifyEnrollmentSignature(blob, message, `${armored}\n`)).toBe(true);
  });

  it('verifies a signature made with -O hashalg=sha256', () => {
    const sha256Sig = keygenSign(key.privatePath, message, ENROLL_NAMESPACE, ['-O', 'hashalg=sha256']);
    const inner = Buffer.from(sha256Sig.split('\n').slice(1, -2).join(''), 'base64');
    expect(inner.includes(Buffer.from('sha256'))).toBe(true);
    expect(verifyEnrollmentSignature(blob, message, sha256Sig)).toBe(true);
  });

  it('refuses a signature made in another namespace', () => {
    for (const namespace of ['git', 'file', 'airlock-enroll-v2', 'airlock']) {
      expect(verifyEnrollmentSignature(blob, message, keygenSign(key.privatePath, message, namespace))).toBe(false);
    }
  });

  it('refuses a signature whose embedded key is not the enrolled key', () => {
    const other = keygenEd25519(tmp.path, 'other', 'other');
    const otherSig = keygenSign(other.privatePath, message, ENROLL_NAMESPACE);
    expect(verifyEnrollmentSignature(blob, message, otherSig)).toBe(false);
    expect(verifyEnrollmentSignature(parseSshEd25519PublicKey(other.publicLine).blob, message, otherSig)).toBe(true);
  });

  it('refuses a tampered message', () => {
    expect(verifyEnrollmentSignature(blob, signedMessage(ENROLLMENT_ID, newChallenge()), armored)).toBe(false);
    expect(verifyEnrollmentSignature(blob, Buffer.concat([message, Buffer.from('\n')]), armored)).toBe(false);
  });

  it('refuses truncated, reordered or garbled armor', () => {
    const lines = armored.trimEnd().split('\n');
    const variants = [
      lines.slice(0, -1).join('\n'),
      [lines[0], ...lines.slice(2)].join('\n'),
      [lines[0], ...lines.slice(1, -1).reverse(), lines.at(-1)].join('\n'),
      armored.replace('-----END SSH SIGNATURE-----', '-----END SSH SIGNATURE----'),
      armored.replace('-----BEGIN SSH SIGNATURE-----\n', '-----BEGIN SSH SIGNATURE-----\n\n'),
      armored.replace(/\n(.)/, '\n $1'),
      armored.replace(/\n(.)/, '\n!'),
      `-----BEGIN SSH SIGNATURE-----\n${'A'.repeat(100)}\n-----END SSH SIGNATURE-----\n`,
      '-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n',
      '-----BEGIN SSH SIGNATURE-----',
      `${armored}trailing junk`,
    ];
    for (const [i, variant] of variants.entries()) expect({ i, ok: verifyEnrollmentSignature(blob, message, variant) }).toEqual({ i, ok: false });
  });

  it('refuses every flipped byte inside the armored blob without throwing', () => {
    const lines = armored.trimEnd().split('\n');
    const inner = Buffer.from(lines.slice(1, -1).join(''), 'base64');
    for (let offset = 0; offset < inner.length; offset++) {
      const flipped = Buffer.from(inner);
      flipped[offset] = (flipped[offset] ?? 0) ^ 0x40;
      expect(verifyEnrollmentSignature(blob, message, armor(flipped))).toBe(false);
    }
    for (let length = 0; length < inner.length; length += 5) {
      expect(verifyEnrollmentSignature(blob, message, armor(inner.subarray(0, length)))).toBe(false);
    }
  });
});

describe('SSHSIG structure, cross-checked with ssh-keygen -Y check-novalidate', () => {
  const message = signedMessage(ENROLLMENT_ID, CHALLENGE);

  it('agrees with OpenSSH on a hand-built SSHSIG, in both hash algorithms', () => {
    for (const hash of ['sha512', 'sha256']) {
      const { secretKey, publicKey } = generateAgentKeyPair();
      const signature = armor(buildSshsig(secretKey, message, { hash }));
      expect(keygenCheck(tmp.path, signature, message, ENROLL_NAMESPACE)).toBe(true);
      expect(verifyEnrollmentSignature(blobOf(publicKey), message, signature)).toBe(true);
    }
  });

  it('refuses malformed structures that a lax parser might let through', () => {
    const { secretKey, publicKey } = generateAgentKeyPair();
    const blob = blobOf(publicKey);
    const cases = {
      'wrong magic': { magic: 'SSHSIH' },
      'version 2': { version: 2 },
      'sha1 hash': { hash: 'sha1' },
      'md5 hash': { hash: 'md5' },
      'rsa signature type': { signatureType: 'rsa-sha2-512' },
      'bytes after the signature': { signatureTrailer: Buffer.from([0]) },
      'bytes after the blob': { trailer: str('x') },
      'namespace swapped after signing': { namespace: ENROLL_NAMESPACE, signedNamespace: 'git' },
      'other namespace, honestly signed': { namespace: 'git' },
      'cert key type embedded': { publicKeyBlob: Buffer.concat([str('ssh-ed25519-cert-v01@openssh.com'), str(publicKey)]) },
    } as const;
    for (const [name, overrides] of Object.entries(cases)) {
      const signature = armor(buildSshsig(secretKey, message, overrides));
      expect({ name, ok: verifyEnrollmentSignature(blob, message, signature) }).toEqual({ name, ok: false });
    }
    // The control: the same builder without overrides is accepted.
    expect(verifyEnrollmentSignature(blob, message, armor(buildSshsig(secretKey, message)))).toBe(true);
  });

  it('carries a non-empty reserved field into the signed data, as the spec says to', () => {
    const { secretKey, publicKey } = generateAgentKeyPair();
    const signature = armor(buildSshsig(secretKey, message, { reserved: 'future' }));
    expect(verifyEnrollmentSignature(blobOf(publicKey), message, signature)).toBe(true);
  });
});

describe('keys we write, used by OpenSSH to sign', () => {
  it('signs with ssh-keygen -Y sign using our private key file, and that verifies', () => {
    const { publicKey, secretKey } = generateAgentKeyPair();
    const path = writePrivateKey(tmp.path, 'ours-signing', encodeOpenSshPrivateKey(secretKey, 'vma-01'));
    const message = signedMessage(ENROLLMENT_ID, newChallenge());
    const armored = keygenSign(path, message, ENROLL_NAMESPACE);
    const blob = parseSshEd25519PublicKey(encodeSshEd25519PublicKey(publicKey, 'vma-01')).blob;
    expect(verifyEnrollmentSignature(blob, message, armored)).toBe(true);
    // The raw path agrees for the same key.
    expect(verifyEnrollmentSignature(blob, message, signRaw(secretKey, message))).toBe(true);
  });
});
