import { createHash, randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  ED25519_KEY_TYPE,
  ED25519_PUBLIC_KEY_BYTES,
  WireError,
  WireReader,
  decodeStrictBase64,
  ed25519Blob,
  isSmallOrderEd25519Key,
  rawKeyFromEd25519Blob,
  wireString,
  wireUint32,
} from './wire.ts';

/**
 * A refused or malformed SSH key. The message says what is wrong and never
 * contains the key material, so it is safe to log and to return to a client.
 *
 * @example
 *   try { parseSshEd25519PublicKey(body.public_key) }
 *   catch (e) { if (e instanceof SshKeyError) fields.public_key = e.message }
 */
export class SshKeyError extends Error {
  override name = 'SshKeyError';
}

/**
 * A parsed `ssh-ed25519` public key line.
 *
 * @example
 *   const { blob, canonical } = parseSshEd25519PublicKey(line)
 *   store({ publicKey: canonical, fingerprint: sshFingerprint(blob) })
 */
export interface SshEd25519PublicKey {
  /** The wire blob: string "ssh-ed25519" + string key. */
  blob: Buffer;
  /** The raw 32-byte Ed25519 public key. */
  key: Buffer;
  /** The comment after the key, or null when there is none. */
  comment: string | null;
  /** `ssh-ed25519 <base64>` without the comment: what to store and compare. */
  canonical: string;
}

/**
 * An unencrypted OpenSSH Ed25519 private key.
 *
 * @example
 *   const { secretKey } = parseOpenSshPrivateKey(pem)
 *   signRaw(secretKey, message)
 */
export interface OpenSshEd25519PrivateKey {
  /** 64 bytes, seed || public key, as tweetnacl's `secretKey`. */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  comment: string;
}

// "ssh-ed25519 " + 68 base64 chars + " " + 100-char comment is 181; leave slack
// for nothing bigger than that to be worth reading.
const MAX_PUBLIC_KEY_LINE = 300;
const MAX_COMMENT_LENGTH = 100;
const TYPE_TOKEN = /^[a-z0-9][a-z0-9@.-]{0,63}$/;

const commentProblem = (comment: string): string | null => {
  if (comment.length > MAX_COMMENT_LENGTH) return `comment is longer than ${MAX_COMMENT_LENGTH} characters`;
  for (let i = 0; i < comment.length; i++) {
    const code = comment.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return 'comment contains a character that is not printable ASCII';
  }
  return null;
};

/**
 * Parses one OpenSSH public key line, `ssh-ed25519 <base64 blob> [comment]`,
 * strictly: one space between fields, canonical padded base64, a blob that is
 * exactly string "ssh-ed25519" + string of 32 bytes, a comment of at most 100
 * printable ASCII characters, no control characters anywhere (so no trailing
 * newline either: trim file contents before calling). Small-order keys, which
 * anyone could sign for, are refused too.
 *
 * @throws SshKeyError with a message that never repeats the key.
 * @example
 *   const pk = parseSshEd25519PublicKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI… vma-01')
 *   pk.comment   // => 'vma-01'
 *   pk.canonical // => 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI…'
 */
export const parseSshEd25519PublicKey = (line: string): SshEd25519PublicKey => {
  if (typeof line !== 'string') throw new SshKeyError('public key must be text');
  if (line.length > MAX_PUBLIC_KEY_LINE) throw new SshKeyError(`public key line is longer than ${MAX_PUBLIC_KEY_LINE} characters`);
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) {
      throw new SshKeyError('public key contains a control or non-ASCII character (one line, no newline)');
    }
  }
  const firstSpace = line.indexOf(' ');
  const typeToken = firstSpace === -1 ? line : line.slice(0, firstSpace);
  if (typeToken !== ED25519_KEY_TYPE) {
    // Naming a short, well-formed type helps the user ("ssh-rsa"); anything
    // else might be key material pasted in the wrong place, so don't echo it.
    const named = TYPE_TOKEN.test(typeToken) ? `'${typeToken}'` : 'not recognised';
    throw new SshKeyError(`key type is ${named}; only ssh-ed25519 keys are accepted`);
  }
  if (firstSpace === -1) throw new SshKeyError('public key has no base64 key data after the type');
  const rest = line.slice(firstSpace + 1);
  const secondSpace = rest.indexOf(' ');
  const base64 = secondSpace === -1 ? rest : rest.slice(0, secondSpace);
  // A trailing space from copy-paste means "no comment", not a bad key.
  const rawComment = secondSpace === -1 ? '' : rest.slice(secondSpace + 1);
  const blob = decodeStrictBase64(base64);
  if (blob === null) throw new SshKeyError('public key data is not canonical standard base64');
  let key: Buffer;
  try {
    key = rawKeyFromEd25519Blob(blob);
  } catch (error) {
    if (error instanceof WireError) {
      throw new SshKeyError('public key data is not an ssh-ed25519 key blob (type string + 32-byte key, nothing else)');
    }
    throw error;
  }
  if (isSmallOrderEd25519Key(key)) throw new SshKeyError('public key is a degenerate Ed25519 point');
  const problem = commentProblem(rawComment);
  if (problem !== null) throw new SshKeyError(problem);
  return {
    blob,
    key: Buffer.from(key),
    comment: rawComment === '' ? null : rawComment,
    canonical: `${ED25519_KEY_TYPE} ${base64}`,
  };
};

/**
 * The key fingerprint exactly as `ssh-keygen -lf` prints it:
 * `SHA256:` + unpadded standard base64 of SHA-256(wire blob).
 *
 * @example
 *   sshFingerprint(parseSshEd25519PublicKey(line).blob)
 *   // => 'SHA256:qz8Yl3Xg0…' (50 characters)
 */
export const sshFingerprint = (blob: Uint8Array): string =>
  `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

const assertRawPublicKey = (rawPublicKey: Uint8Array): void => {
  if (!(rawPublicKey instanceof Uint8Array) || rawPublicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new SshKeyError('an Ed25519 public key is 32 bytes');
  }
};

/**
 * The OpenSSH one-line form of a raw 32-byte Ed25519 public key. The comment
 * follows the same rules as {@link parseSshEd25519PublicKey}, so the output
 * always parses back.
 *
 * @example
 *   encodeSshEd25519PublicKey(keyPair.publicKey, 'vma-01')
 *   // => 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI… vma-01'
 */
export const encodeSshEd25519PublicKey = (rawPublicKey: Uint8Array, comment?: string): string => {
  assertRawPublicKey(rawPublicKey);
  const line = `${ED25519_KEY_TYPE} ${ed25519Blob(rawPublicKey).toString('base64')}`;
  if (comment === undefined || comment === '') return line;
  const problem = commentProblem(comment);
  if (problem !== null) throw new SshKeyError(problem);
  return `${line} ${comment}`;
};

const PRIVATE_KEY_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const PEM_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PEM_END = '-----END OPENSSH PRIVATE KEY-----';
// Cipher "none" pads the private section to 8-byte blocks.
const NONE_BLOCK_SIZE = 8;
const PEM_LINE_LENGTH = 70;
const MAX_PRIVATE_KEY_PEM = 16 * 1024;

/** Checks a 64-byte tweetnacl secret key is seed || the public key of that seed. */
export const publicKeyOfSecretKey = (secretKey: Uint8Array): Uint8Array => {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== nacl.sign.secretKeyLength) {
    throw new SshKeyError('an Ed25519 secret key is 64 bytes (seed || public key)');
  }
  const derived = nacl.sign.keyPair.fromSeed(secretKey.slice(0, nacl.sign.seedLength)).publicKey;
  if (!Buffer.from(derived).equals(Buffer.from(secretKey.subarray(nacl.sign.seedLength)))) {
    throw new SshKeyError('secret key halves do not match (public half is not derived from the seed)');
  }
  return derived;
};

/**
 * An unencrypted OpenSSH private key file (openssh-key-v1, cipher and KDF
 * "none") that `ssh`, `ssh-keygen -y` and `ssh-keygen -Y sign` accept. The
 * caller writes it with mode 0600; ssh refuses group/world-readable keys.
 *
 * @example
 *   const { secretKey } = generateAgentKeyPair()
 *   writeFileSync(path, encodeOpenSshPrivateKey(secretKey, 'vma-01'), { mode: 0o600 })
 */
export const encodeOpenSshPrivateKey = (secretKey: Uint8Array, comment: string): string => {
  const publicKey = publicKeyOfSecretKey(secretKey);
  const problem = commentProblem(comment);
  if (problem !== null) throw new SshKeyError(problem);
  const blob = ed25519Blob(publicKey);
  // Equal random "check" ints let a decrypting reader spot a wrong passphrase;
  // OpenSSH writes them even for unencrypted keys.
  const check = randomBytes(4);
  const unpadded = Buffer.concat([
    check,
    check,
    wireString(ED25519_KEY_TYPE),
    wireString(publicKey),
    wireString(secretKey),
    wireString(comment),
  ]);
  const padLength = (NONE_BLOCK_SIZE - (unpadded.length % NONE_BLOCK_SIZE)) % NONE_BLOCK_SIZE;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const body = Buffer.concat([
    PRIVATE_KEY_MAGIC,
    wireString('none'),
    wireString('none'),
    wireString(''),
    wireUint32(1),
    wireString(blob),
    wireString(Buffer.concat([unpadded, padding])),
  ]).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < body.length; i += PEM_LINE_LENGTH) lines.push(body.slice(i, i + PEM_LINE_LENGTH));
  return `${PEM_BEGIN}\n${lines.join('\n')}\n${PEM_END}\n`;
};

const parsePrivateKeyBody = (body: Buffer): OpenSshEd25519PrivateKey => {
  if (!body.subarray(0, PRIVATE_KEY_MAGIC.length).equals(PRIVATE_KEY_MAGIC)) {
    throw new SshKeyError('not an openssh-key-v1 private key');
  }
  const reader = new WireReader(body.subarray(PRIVATE_KEY_MAGIC.length));
  const cipher = reader.text();
  const kdf = reader.text();
  const kdfOptions = reader.string();
  if (cipher !== 'none' || kdf !== 'none' || kdfOptions.length !== 0) {
    throw new SshKeyError('private key is encrypted; only unencrypted keys are supported');
  }
  if (reader.uint32() !== 1) throw new SshKeyError('private key file must hold exactly one key');
  const blob = reader.string();
  let publicKey: Buffer;
  try {
    publicKey = rawKeyFromEd25519Blob(blob);
  } catch {
    throw new SshKeyError('private key is not an ssh-ed25519 key');
  }
  const section = reader.string();
  reader.end();
  if (section.length % NONE_BLOCK_SIZE !== 0) throw new SshKeyError('private key section is not padded to its block size');

  const priv = new WireReader(section);
  const check1 = priv.uint32();
  const check2 = priv.uint32();
  if (check1 !== check2) throw new SshKeyError('private key check integers differ (corrupt or encrypted)');
  if (priv.text() !== ED25519_KEY_TYPE) throw new SshKeyError('private key is not an ssh-ed25519 key');
  const innerPublic = priv.string();
  const secretKey = priv.string();
  const comment = priv.string();
  const padding = priv.bytes(priv.remaining);
  if (!innerPublic.equals(publicKey)) throw new SshKeyError('private key sections disagree about the public key');
  if (secretKey.length !== nacl.sign.secretKeyLength) throw new SshKeyError('private key is not 64 bytes');
  if (padding.length >= NONE_BLOCK_SIZE || !padding.every((byte, i) => byte === i + 1)) {
    throw new SshKeyError('private key padding is malformed');
  }
  const derived = publicKeyOfSecretKey(new Uint8Array(secretKey));
  if (!Buffer.from(derived).equals(publicKey)) throw new SshKeyError('private key does not match its public key');
  return {
    secretKey: new Uint8Array(secretKey),
    publicKey: new Uint8Array(publicKey),
    comment: comment.toString('utf8'),
  };
};

/**
 * Reads an unencrypted OpenSSH Ed25519 private key, as written by
 * {@link encodeOpenSshPrivateKey} or `ssh-keygen -t ed25519 -N ''`. Checks
 * every structural field and that the seed really yields the stored public
 * key. Encrypted keys and other key types are refused.
 *
 * @throws SshKeyError, whose message never contains key material.
 * @example
 *   const { secretKey, publicKey, comment } = parseOpenSshPrivateKey(readFileSync(path, 'utf8'))
 */
export const parseOpenSshPrivateKey = (pem: string): OpenSshEd25519PrivateKey => {
  if (typeof pem !== 'string') throw new SshKeyError('private key must be text');
  if (pem.length > MAX_PRIVATE_KEY_PEM) throw new SshKeyError('private key file is too large');
  const lines = pem.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  if (lines[0] !== PEM_BEGIN || lines[lines.length - 1] !== PEM_END || lines.length < 3) {
    throw new SshKeyError(`not an OpenSSH private key (expected ${PEM_BEGIN} ... ${PEM_END})`);
  }
  const body = decodeStrictBase64(lines.slice(1, -1).join(''));
  if (body === null) throw new SshKeyError('private key body is not valid base64');
  try {
    return parsePrivateKeyBody(body);
  } catch (error) {
    if (error instanceof WireError) throw new SshKeyError('private key is truncated or malformed');
    throw error;
  }
};
