/**
 * An Ed25519 key pair as node:crypto holds it (a private KeyObject to sign
 * with) and its raw 32-byte public key, for tests and benches that sign with
 * node:crypto.
 *
 * Made from a random seed, not with `generateKeyPairSync('ed25519')` and
 * `publicKey.export({ format: 'jwk' })`: on Node 20 that pair can deadlock
 * the process. The JWK export holds the key's mutex while it allocates the
 * string; a garbage collection that allocation triggers may destroy the
 * finished key-generation job, whose destructor takes the same mutex. A CI
 * run hung for good that way in signatures.test.ts (gdb: KeyGenJob::~KeyGenJob
 * under KeyObjectHandle::ExportJWK). Without a generation job there is nothing
 * to destroy under the lock.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

// PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
// SubjectPublicKeyInfo for Ed25519 up to the 32-byte public key.
const SPKI_ED25519_PREFIX_LENGTH = 12;

export const nodeEd25519KeyPair = (): { privateKey: KeyObject; raw: Buffer } => {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, randomBytes(32)]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, raw: spki.subarray(SPKI_ED25519_PREFIX_LENGTH) };
};
