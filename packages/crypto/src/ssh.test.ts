import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SshKeyError,
  encodeOpenSshPrivateKey,
  encodeSshEd25519PublicKey,
  parseOpenSshPrivateKey,
  parseSshEd25519PublicKey,
  sshFingerprint,
} from './ssh.ts';
import {
  keygenEd25519,
  keygenFingerprint,
  keygenPublicFromPrivate,
  makeTempDir,
  writePrivateKey,
} from './test-support.ts';

// RFC 8032 §7.1 test 1.
const RFC8032_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const RFC8032_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
// Pinned from `ssh-keygen -lf` on this line.
const RFC8032_LINE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea rfc8032-test1';
const RFC8032_FINGERPRINT = 'SHA256:bbXpuKG6zhzdmnxq256TlqzFBzRl2f6OOg722cYNbU8';

const str = (value: Uint8Array | string): Buffer => {
  const body = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
};
const lineFor = (blob: Uint8Array, comment = ''): string =>
  `ssh-ed25519 ${Buffer.from(blob).toString('base64')}${comment === '' ? '' : ` ${comment}`}`;

const expectRefused = (line: string, message: RegExp): void => {
  let caught: unknown;
  try {
    parseSshEd25519PublicKey(line);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SshKeyError);
  const text = (caught as Error).message;
  expect(text).toMatch(message);
  // The message must never carry the key material back to the caller.
  for (const token of line.split(' ')) {
    if (token.length > 16 && !/^[a-z0-9@.-]+$/.test(token)) expect(text).not.toContain(token.slice(0, 16));
  }
};

let tmp: ReturnType<typeof makeTempDir>;
beforeAll(() => {
  tmp = makeTempDir();
});
afterAll(() => tmp.remove());

describe('parseSshEd25519PublicKey', () => {
  it('parses keys made by ssh-keygen -t ed25519, comment and all', () => {
    for (let i = 0; i < 3; i++) {
      const { publicLine } = keygenEd25519(tmp.path, `parse-${i}`, `vma-0${i}@example`);
      const parsed = parseSshEd25519PublicKey(publicLine);
      expect(parsed.comment).toBe(`vma-0${i}@example`);
      expect(parsed.key.length).toBe(32);
      expect(parsed.blob.length).toBe(51);
      expect(parsed.blob.subarray(19).equals(parsed.key)).toBe(true);
      expect(parsed.canonical).toBe(publicLine.split(' ').slice(0, 2).join(' '));
    }
  });

  it('parses the RFC 8032 test key to its raw public key', () => {
    const parsed = parseSshEd25519PublicKey(RFC8032_LINE);
    expect(parsed.key.equals(RFC8032_PUBLIC)).toBe(true);
    expect(parsed.comment).toBe('rfc8032-test1');
  });

  it('gives a null comment when there is none, or only a trailing space', () => {
    const canonical = RFC8032_LINE.split(' ').slice(0, 2).join(' ');
    expect(parseSshEd25519PublicKey(canonical).comment).toBeNull();
    expect(parseSshEd25519PublicKey(`${canonical} `).comment).toBeNull();
    expect(parseSshEd25519PublicKey(`${canonical} `).canonical).toBe(canonical);
  });

  it('keeps spaces inside a comment, as OpenSSH does', () => {
    const canonical = RFC8032_LINE.split(' ').slice(0, 2).join(' ');
    expect(parseSshEd25519PublicKey(`${canonical} vma 01  rack 4`).comment).toBe('vma 01  rack 4');
  });

  it('accepts a comment of exactly 100 printable characters and refuses 101', () => {
    const canonical = RFC8032_LINE.split(' ').slice(0, 2).join(' ');
    expect(parseSshEd25519PublicKey(`${canonical} ${'~'.repeat(100)}`).comment).toHaveLength(100);
    expectRefused(`${canonical} ${'a'.repeat(101)}`, /comment is longer than 100/);
  });

  it('refuses other key types by name, ssh-rsa included', () => {
    const rsaBlob = Buffer.concat([str('ssh-rsa'), str(Buffer.from([1, 0, 1])), str(Buffer.alloc(129, 0xab))]);
    expectRefused(`ssh-rsa ${rsaBlob.toString('base64')} old@host`, /key type is 'ssh-rsa'; only ssh-ed25519/);
    expectRefused(RFC8032_LINE.replace('ssh-ed25519', 'ecdsa-sha2-nistp256'), /'ecdsa-sha2-nistp256'/);
    expectRefused(RFC8032_LINE.replace('ssh-ed25519', 'sk-ssh-ed25519@openssh.com'), /only ssh-ed25519/);
    expectRefused(RFC8032_LINE.replace('ssh-ed25519', 'SSH-ED25519'), /key type is not recognised/);
  });

  it('does not echo a pasted blob mistaken for the type', () => {
    expectRefused(RFC8032_LINE.split(' ')[1] ?? '', /key type is not recognised/);
  });

  it('refuses a blob whose inner type is not ssh-ed25519', () => {
    const blob = Buffer.concat([str('ssh-ed25518'), str(RFC8032_PUBLIC)]);
    expectRefused(lineFor(blob), /not an ssh-ed25519 key blob/);
  });

  it('refuses trailing bytes after the key in the blob', () => {
    const blob = Buffer.concat([str('ssh-ed25519'), str(RFC8032_PUBLIC), Buffer.from([0])]);
    expectRefused(lineFor(blob), /nothing else/);
    const blob2 = Buffer.concat([str('ssh-ed25519'), str(RFC8032_PUBLIC), str('extra')]);
    expectRefused(lineFor(blob2), /nothing else/);
  });

  it('refuses a key that is not 32 bytes, or a truncated blob', () => {
    expectRefused(lineFor(Buffer.concat([str('ssh-ed25519'), str(RFC8032_PUBLIC.subarray(1))])), /32-byte key/);
    expectRefused(lineFor(Buffer.concat([str('ssh-ed25519'), str(Buffer.concat([RFC8032_PUBLIC, Buffer.from([7])]))])), /32-byte key/);
    const full = Buffer.concat([str('ssh-ed25519'), str(RFC8032_PUBLIC)]);
    expectRefused(lineFor(full.subarray(0, 48)), /32-byte key/);
    expectRefused(lineFor(Buffer.from([0, 0, 0, 11])), /32-byte key/);
  });

  it('refuses base64 that is unpadded, non-canonical, url-safe or has junk', () => {
    const data = RFC8032_LINE.split(' ')[1] ?? '';
    expect(data.endsWith('=')).toBe(false);
    // The real blob is 51 bytes (no padding); make padded variants by shape.
    const blob = Buffer.from(data, 'base64');
    const padded = lineFor(Buffer.concat([blob, Buffer.from([0])]));
    expectRefused(padded.replace(/=$/, ''), /base64/);
    // The appended zero byte encodes as 'AA=='; 'AB==' sets unused low bits
    // that Node's decoder would silently drop.
    expect(padded.endsWith('AA==')).toBe(true);
    expectRefused(padded.replace(/AA==$/, 'AB=='), /base64/);
    expectRefused(`ssh-ed25519 ${data.replace('+', '-')}`, /base64/);
    expectRefused(`ssh-ed25519 ${data.slice(0, 20)}*${data.slice(21)}`, /base64/);
    expectRefused(`ssh-ed25519 ${data}==`, /base64/);
    expectRefused(`ssh-ed25519 `, /base64/);
    expectRefused('ssh-ed25519', /no base64 key data/);
  });

  it('refuses two spaces after the type and a leading space', () => {
    const data = RFC8032_LINE.split(' ')[1] ?? '';
    expectRefused(`ssh-ed25519  ${data}`, /base64/);
    expectRefused(` ${RFC8032_LINE}`, /key type/);
  });

  it('refuses control characters anywhere, a trailing newline included', () => {
    for (const control of ['\n', '\r\n', '\0', '\t', '\u007F']) {
      expectRefused(`${RFC8032_LINE}${control}`, /control or non-ASCII/);
      expectRefused(RFC8032_LINE.replace(' ', control), /control or non-ASCII/);
    }
    expectRefused(`${RFC8032_LINE}\nssh-ed25519 ${RFC8032_LINE.split(' ')[1] ?? ''}`, /control or non-ASCII/);
  });

  it('refuses a non-ASCII comment', () => {
    expectRefused(`${RFC8032_LINE}-café`, /control or non-ASCII/);
    expectRefused(`${RFC8032_LINE}\u202Egnp.exe`, /control or non-ASCII/);
  });

  it('refuses an over-long line before parsing it', () => {
    expectRefused(`${RFC8032_LINE} ${'a'.repeat(300)}`, /longer than 300/);
    expectRefused('x'.repeat(100_000), /longer than 300/);
  });

  it('refuses the small-order points, for which anyone can forge signatures', () => {
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    expectRefused(lineFor(Buffer.concat([str('ssh-ed25519'), str(identity)])), /degenerate/);
    expectRefused(lineFor(Buffer.concat([str('ssh-ed25519'), str(Buffer.alloc(32))])), /degenerate/);
  });

  it('refuses things that are not text', () => {
    expect(() => parseSshEd25519PublicKey(undefined as unknown as string)).toThrow(SshKeyError);
  });
});

describe('sshFingerprint', () => {
  it('matches the pinned ssh-keygen -lf fingerprint of the RFC 8032 key', () => {
    expect(sshFingerprint(parseSshEd25519PublicKey(RFC8032_LINE).blob)).toBe(RFC8032_FINGERPRINT);
  });

  it('is byte-identical to ssh-keygen -lf for fresh ssh-keygen keys', () => {
    for (let i = 0; i < 5; i++) {
      const { publicLine, publicPath } = keygenEd25519(tmp.path, `fp-${i}`, `fp-${i}`);
      expect(sshFingerprint(parseSshEd25519PublicKey(publicLine).blob)).toBe(keygenFingerprint(publicPath));
    }
  });
});

describe('encodeSshEd25519PublicKey', () => {
  it('encodes the RFC 8032 key to the pinned line', () => {
    expect(encodeSshEd25519PublicKey(RFC8032_PUBLIC, 'rfc8032-test1')).toBe(RFC8032_LINE);
    expect(encodeSshEd25519PublicKey(RFC8032_PUBLIC)).toBe(RFC8032_LINE.split(' ').slice(0, 2).join(' '));
  });

  it('writes exactly the line ssh-keygen wrote for the same key', () => {
    const { privatePath, publicLine } = keygenEd25519(tmp.path, 'encode-pub', 'agent@vma-01');
    const { publicKey } = parseOpenSshPrivateKey(readFileSync(privatePath, 'utf8'));
    expect(encodeSshEd25519PublicKey(publicKey, 'agent@vma-01')).toBe(publicLine);
  });

  it('round-trips through the parser', () => {
    const { publicKey } = nacl.sign.keyPair();
    const parsed = parseSshEd25519PublicKey(encodeSshEd25519PublicKey(publicKey, 'vma-01'));
    expect(parsed.key.equals(Buffer.from(publicKey))).toBe(true);
    expect(parsed.comment).toBe('vma-01');
  });

  it('refuses a key that is not 32 bytes and a comment the parser would refuse', () => {
    expect(() => encodeSshEd25519PublicKey(new Uint8Array(31))).toThrow(SshKeyError);
    expect(() => encodeSshEd25519PublicKey(RFC8032_PUBLIC, 'two\nlines')).toThrow(SshKeyError);
    expect(() => encodeSshEd25519PublicKey(RFC8032_PUBLIC, 'x'.repeat(101))).toThrow(SshKeyError);
  });
});

describe('encodeOpenSshPrivateKey', () => {
  it('writes a file that ssh-keygen -y turns back into the same public key', () => {
    for (let i = 0; i < 3; i++) {
      const { publicKey, secretKey } = nacl.sign.keyPair();
      const path = writePrivateKey(tmp.path, `ours-${i}`, encodeOpenSshPrivateKey(secretKey, `vma-0${i}`));
      expect(keygenPublicFromPrivate(path)).toBe(encodeSshEd25519PublicKey(publicKey, `vma-0${i}`));
      expect(keygenFingerprint(path)).toBe(sshFingerprint(parseSshEd25519PublicKey(encodeSshEd25519PublicKey(publicKey)).blob));
    }
  });

  it('encodes the RFC 8032 key so that ssh-keygen derives the pinned public key', () => {
    const { secretKey } = nacl.sign.keyPair.fromSeed(RFC8032_SEED);
    const path = writePrivateKey(tmp.path, 'rfc8032', encodeOpenSshPrivateKey(secretKey, 'rfc8032-test1'));
    expect(keygenPublicFromPrivate(path)).toBe(RFC8032_LINE);
  });

  it('uses PEM armor, 70-character lines and a final newline', () => {
    const pem = encodeOpenSshPrivateKey(nacl.sign.keyPair().secretKey, 'a'.repeat(40));
    const lines = pem.split('\n');
    expect(lines[0]).toBe('-----BEGIN OPENSSH PRIVATE KEY-----');
    expect(lines.at(-2)).toBe('-----END OPENSSH PRIVATE KEY-----');
    expect(lines.at(-1)).toBe('');
    const body = lines.slice(1, -2);
    for (const line of body.slice(0, -1)) expect(line).toHaveLength(70);
    expect((body.at(-1) ?? '').length).toBeLessThanOrEqual(70);
  });

  it('round-trips through parseOpenSshPrivateKey for every padding length', () => {
    // Comment lengths 0..7 exercise every padding length 0..7.
    for (let length = 0; length < 8; length++) {
      const pair = nacl.sign.keyPair();
      const comment = 'c'.repeat(length);
      const parsed = parseOpenSshPrivateKey(encodeOpenSshPrivateKey(pair.secretKey, comment));
      expect(Buffer.from(parsed.secretKey).equals(Buffer.from(pair.secretKey))).toBe(true);
      expect(Buffer.from(parsed.publicKey).equals(Buffer.from(pair.publicKey))).toBe(true);
      expect(parsed.comment).toBe(comment);
    }
  });

  it('refuses a secret key whose public half does not match its seed', () => {
    const { secretKey } = nacl.sign.keyPair();
    const tampered = Uint8Array.from(secretKey);
    tampered[40] = (tampered[40] ?? 0) ^ 1;
    expect(() => encodeOpenSshPrivateKey(tampered, 'x')).toThrow(/do not match/);
    expect(() => encodeOpenSshPrivateKey(secretKey.subarray(0, 32), 'x')).toThrow(SshKeyError);
  });
});

describe('parseOpenSshPrivateKey', () => {
  it('reads an unencrypted key made by ssh-keygen -t ed25519 -N ""', () => {
    const { privatePath, publicLine } = keygenEd25519(tmp.path, 'read-me', 'ops@bastion');
    const parsed = parseOpenSshPrivateKey(readFileSync(privatePath, 'utf8'));
    expect(parsed.comment).toBe('ops@bastion');
    expect(encodeSshEd25519PublicKey(parsed.publicKey, parsed.comment)).toBe(publicLine);
    // The secret key really is the key: tweetnacl signs, and the public key verifies.
    const message = Buffer.from('hello');
    const signature = nacl.sign.detached(message, parsed.secretKey);
    expect(nacl.sign.detached.verify(message, signature, parsed.publicKey)).toBe(true);
  });

  it('tolerates CRLF line endings and a missing final newline', () => {
    const pem = encodeOpenSshPrivateKey(nacl.sign.keyPair().secretKey, 'crlf');
    expect(parseOpenSshPrivateKey(pem.replace(/\n/g, '\r\n')).comment).toBe('crlf');
    expect(parseOpenSshPrivateKey(pem.trimEnd()).comment).toBe('crlf');
  });

  it('refuses a passphrase-protected key', () => {
    const path = join(tmp.path, 'encrypted');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-C', 'x', '-f', path]);
    expect(() => parseOpenSshPrivateKey(readFileSync(path, 'utf8'))).toThrow(/encrypted/);
  });

  it('refuses an ECDSA key', () => {
    const path = join(tmp.path, 'ecdsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-C', 'x', '-f', path]);
    expect(() => parseOpenSshPrivateKey(readFileSync(path, 'utf8'))).toThrow(/not an ssh-ed25519 key/);
  });

  it('refuses garbage, PKCS#8 PEM, and truncated or tampered bodies', () => {
    expect(() => parseOpenSshPrivateKey('')).toThrow(SshKeyError);
    expect(() => parseOpenSshPrivateKey('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n')).toThrow(/not an OpenSSH private key/);
    const pem = encodeOpenSshPrivateKey(nacl.sign.keyPair().secretKey, 'victim');
    const lines = pem.trimEnd().split('\n');
    const body = Buffer.from(lines.slice(1, -1).join(''), 'base64');
    const rewrap = (bytes: Buffer): string =>
      `-----BEGIN OPENSSH PRIVATE KEY-----\n${bytes.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
    expect(() => parseOpenSshPrivateKey(rewrap(body.subarray(0, body.length - 9)))).toThrow(SshKeyError);
    expect(() => parseOpenSshPrivateKey(rewrap(Buffer.concat([body, Buffer.from([0])])))).toThrow(SshKeyError);
    // The body ends: string(64-byte secret key) string('victim') padding 1..7.
    // Flipping any of those bytes except the comment's text must be caught.
    const commentText = { start: body.length - 7 - 6, end: body.length - 7 };
    for (let offset = body.length - 7 - 10 - 68; offset < body.length; offset++) {
      if (offset >= commentText.start && offset < commentText.end) continue;
      const tampered = Buffer.from(body);
      tampered[offset] = (tampered[offset] ?? 0) ^ 0x01;
      expect(() => parseOpenSshPrivateKey(rewrap(tampered))).toThrow(SshKeyError);
    }
    expect(() => parseOpenSshPrivateKey(pem.replace('b', '!'))).toThrow(SshKeyError);
    expect(() => parseOpenSshPrivateKey(`${pem}${'A'.repeat(20_000)}`)).toThrow(/too large/);
  });

  it('never puts key material into its error messages', () => {
    const pem = encodeOpenSshPrivateKey(nacl.sign.keyPair().secretKey, 'secret-comment');
    const body = pem.split('\n')[2] ?? '';
    try {
      parseOpenSshPrivateKey(pem.replace(body, body.replace(/.$/, '!')));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(body.slice(0, 10));
      expect((error as Error).message).not.toContain('secret-comment');
    }
  });
});
