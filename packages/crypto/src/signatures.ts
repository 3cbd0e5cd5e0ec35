import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  ED25519_KEY_TYPE,
  ED25519_SIGNATURE_BYTES,
  WireReader,
  decodeStrictBase64,
  isSmallOrderEd25519Key,
  rawKeyFromEd25519Blob,
  wireString,
} from './wire.ts';

/**
 * The SSHSIG namespace an enrollment signature must carry, so a signature
 * made for git, file signing or anything else cannot be replayed here.
 */
export const ENROLL_NAMESPACE = 'airlock-enroll';
/** The SSHSIG namespace of an enrolled agent's proof on `/api/v1/agent/credentials`. */
export const AGENT_NAMESPACE = 'airlock-agent';

const MESSAGE_VERSION = 'airlock-enroll-v1';
const AGENT_MESSAGE_VERSION = 'airlock-agent-v1';
const CHALLENGE_BYTES = 32;
// An armored SSHSIG for Ed25519 is ~300 bytes; 4 KiB is generous and bounds
// the work a hostile client can make us do.
const MAX_SIGNATURE_INPUT = 4096;
const RAW_SIGNATURE_BASE64_LENGTH = 88;
const SSHSIG_MAGIC = Buffer.from('SSHSIG', 'latin1');
const SSHSIG_VERSION = 1;
const SSHSIG_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const SSHSIG_END = '-----END SSH SIGNATURE-----';
const SSHSIG_HASHES: ReadonlySet<string> = new Set(['sha512', 'sha256']);
const KEY_CACHE_LIMIT = 1024;

/**
 * A fresh enrollment challenge: 32 random bytes, standard base64 with padding.
 *
 * @example
 *   newChallenge() // => 'q5S0oU1N4v1o…=' (44 characters)
 */
export const newChallenge = (): string => randomBytes(CHALLENGE_BYTES).toString('base64');

/**
 * The exact bytes an agent signs: UTF-8 of
 * `airlock-enroll-v1\n{enrollment_id}\n{challenge}`, no trailing newline.
 * Neither part may contain a newline, or two different (id, challenge) pairs
 * could produce the same message.
 *
 * @example
 *   signedMessage('0b6d…', 'q5S0…=').toString() // => 'airlock-enroll-v1\n0b6d…\nq5S0…='
 */
export const signedMessage = (enrollmentId: string, challenge: string): Buffer => {
  if (enrollmentId.includes('\n') || challenge.includes('\n')) {
    throw new TypeError('enrollment id and challenge must not contain newlines');
  }
  return Buffer.from(`${MESSAGE_VERSION}\n${enrollmentId}\n${challenge}`, 'utf8');
};

/**
 * The exact bytes an enrolled agent signs to renew or recover its credentials:
 * UTF-8 of `airlock-agent-v1\n{challenge_id}\n{challenge}`, no trailing
 * newline. A different version tag than enrollment, so a signature made for
 * one can never be replayed as the other.
 *
 * @example
 *   agentSignedMessage('5f1c…', 'q5S0…=').toString() // => 'airlock-agent-v1\n5f1c…\nq5S0…='
 */
export const agentSignedMessage = (challengeId: string, challenge: string): Buffer => {
  if (challengeId.includes('\n') || challenge.includes('\n')) {
    throw new TypeError('challenge id and challenge must not contain newlines');
  }
  return Buffer.from(`${AGENT_MESSAGE_VERSION}\n${challengeId}\n${challenge}`, 'utf8');
};

/**
 * node:crypto verifies ~75x faster than tweetnacl and does not block the event
 * loop as long, but building a KeyObject costs; keep recently used ones.
 * Map iteration order is insertion order, so re-inserting on a hit makes the
 * first key the least recently used.
 */
const keyCache = new Map<string, KeyObject>();

const keyObjectFor = (rawPublicKey: Buffer): KeyObject => {
  const cacheKey = rawPublicKey.toString('hex');
  const cached = keyCache.get(cacheKey);
  if (cached !== undefined) {
    keyCache.delete(cacheKey);
    keyCache.set(cacheKey, cached);
    return cached;
  }
  // Imported as a JWK, not as DER SubjectPublicKeyInfo: the same key, but
  // OpenSSL's DER decoder made the import ~80 µs against ~8 µs for the JWK
  // (Node 20), ten times the verification itself, once per enrollment.
  const keyObject = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: rawPublicKey.toString('base64url') },
    format: 'jwk',
  });
  keyCache.set(cacheKey, keyObject);
  if (keyCache.size > KEY_CACHE_LIMIT) {
    const oldest = keyCache.keys().next();
    if (oldest.done !== true) keyCache.delete(oldest.value);
  }
  return keyObject;
};

/** The SSHSIG blob inside the armor, or null when the armor is malformed. */
const dearmor = (armored: string): Buffer | null => {
  const lines = armored.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  if (lines.length < 3 || lines[0] !== SSHSIG_BEGIN || lines[lines.length - 1] !== SSHSIG_END) return null;
  const body = lines.slice(1, -1);
  // ssh-keygen never writes blank lines; refusing them keeps one spelling per signature.
  if (body.some((line) => line.length === 0)) return null;
  return decodeStrictBase64(body.join(''));
};

/**
 * What an SSHSIG signature covers (PROTOCOL.sshsig), or null when the blob is
 * not a well-formed Ed25519 SSHSIG by `publicKeyBlob` in our namespace.
 */
const sshsigSignedData = (
  sshsig: Buffer,
  publicKeyBlob: Buffer,
  message: Uint8Array,
  expectedNamespace: string,
): { data: Buffer; signature: Buffer } | null => {
  if (!sshsig.subarray(0, SSHSIG_MAGIC.length).equals(SSHSIG_MAGIC)) return null;
  const reader = new WireReader(sshsig.subarray(SSHSIG_MAGIC.length));
  if (reader.uint32() !== SSHSIG_VERSION) return null;
  const embeddedKey = reader.string();
  const namespace = reader.string();
  // Reserved for future use; the spec says to ignore its content, but it is
  // part of the signed data, so carry it through unchanged.
  const reserved = reader.string();
  const hashAlgorithm = reader.text();
  const signatureBlob = reader.string();
  reader.end();
  if (!embeddedKey.equals(publicKeyBlob)) return null;
  if (namespace.toString('latin1') !== expectedNamespace) return null;
  if (!SSHSIG_HASHES.has(hashAlgorithm)) return null;

  const sig = new WireReader(signatureBlob);
  if (sig.text() !== ED25519_KEY_TYPE) return null;
  const signature = sig.string();
  sig.end();
  if (signature.length !== ED25519_SIGNATURE_BYTES) return null;

  const digest = createHash(hashAlgorithm).update(message).digest();
  const data = Buffer.concat([
    SSHSIG_MAGIC,
    wireString(namespace),
    wireString(reserved),
    wireString(hashAlgorithm),
    wireString(digest),
  ]);
  return { data, signature };
};

/**
 * True when `signature` is a valid Ed25519 signature of `message` by the key
 * in `publicKeyBlob` (an ssh-ed25519 wire blob). Accepts either standard
 * base64 of the raw 64-byte signature, or an armored OpenSSH signature made by
 * `ssh-keygen -Y sign -n airlock-enroll -f KEY` whose embedded key equals the
 * enrolled one. Returns false, never throws, on any hostile or malformed input.
 *
 * @example
 *   const message = signedMessage(enrollment.id, enrollment.challenge)
 *   verifyEnrollmentSignature(parsedKey.blob, message, body.signature) // => true | false
 */
export const verifyEnrollmentSignature = (
  publicKeyBlob: Uint8Array,
  message: Uint8Array,
  signature: string,
  /** The SSHSIG namespace a signature must carry; see rekey.ts for the other one. */
  namespace: string = ENROLL_NAMESPACE,
): boolean => verifyNamespacedSignature(publicKeyBlob, message, signature, namespace);

/**
 * {@link verifyEnrollmentSignature} for an enrolled agent's proof: the same
 * two forms, but an SSHSIG must carry the namespace `airlock-agent`
 * (`ssh-keygen -Y sign -n airlock-agent`).
 *
 * @example
 *   verifyAgentSignature(agentKey.blob, agentSignedMessage(id, challenge), body.signature) // => true | false
 */
export const verifyAgentSignature = (publicKeyBlob: Uint8Array, message: Uint8Array, signature: string): boolean =>
  verifyNamespacedSignature(publicKeyBlob, message, signature, AGENT_NAMESPACE);

const verifyNamespacedSignature = (
  publicKeyBlob: Uint8Array,
  message: Uint8Array,
  signature: string,
  namespace: string,
): boolean => {
  try {
    if (typeof signature !== 'string' || signature.length > MAX_SIGNATURE_INPUT) return false;
    if (!(publicKeyBlob instanceof Uint8Array) || !(message instanceof Uint8Array)) return false;
    const blob = Buffer.from(publicKeyBlob);
    const rawKey = rawKeyFromEd25519Blob(blob);
    if (isSmallOrderEd25519Key(rawKey)) return false;

    let data: Uint8Array;
    let rawSignature: Buffer;
    if (signature.startsWith(SSHSIG_BEGIN)) {
      const sshsig = dearmor(signature);
      if (sshsig === null) return false;
      const parsed = sshsigSignedData(sshsig, blob, message, namespace);
      if (parsed === null) return false;
      data = parsed.data;
      rawSignature = parsed.signature;
    } else {
      if (signature.length !== RAW_SIGNATURE_BASE64_LENGTH) return false;
      const decoded = decodeStrictBase64(signature);
      if (decoded === null || decoded.length !== ED25519_SIGNATURE_BYTES) return false;
      data = message;
      rawSignature = decoded;
    }
    return verify(null, data, keyObjectFor(rawKey), rawSignature);
  } catch {
    // Truncated wire fields, keys OpenSSL refuses, and the like: all "no".
    return false;
  }
};

/**
 * A new Ed25519 key pair for an agent (tweetnacl, so the agent needs no
 * OpenSSL). `secretKey` is 64 bytes, seed || public key.
 *
 * @example
 *   const { publicKey, secretKey } = generateAgentKeyPair()
 *   encodeSshEd25519PublicKey(publicKey, hostname)
 */
export const generateAgentKeyPair = (): { publicKey: Uint8Array; secretKey: Uint8Array } => {
  const pair = nacl.sign.keyPair();
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
};

/**
 * Standard base64 of the raw detached Ed25519 signature of `message`: the
 * first signature form {@link verifyEnrollmentSignature} accepts.
 *
 * @example
 *   signRaw(secretKey, signedMessage(enrollmentId, challenge)) // => 88 base64 characters
 */
export const signRaw = (secretKey: Uint8Array, message: Uint8Array): string => {
  if (secretKey.length !== nacl.sign.secretKeyLength) throw new TypeError('an Ed25519 secret key is 64 bytes');
  return Buffer.from(nacl.sign.detached(message, secretKey)).toString('base64');
};
