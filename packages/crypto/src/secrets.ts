import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What an opaque secret is for, readable in logs and by secret scanners:
 * `cak` agent key, `cek` site enrollment key, `aop` operator token,
 * `ept` enrollment poll token.
 *
 * @example
 *   const prefix: SecretPrefix = 'ept'
 */
export type SecretPrefix = 'cak' | 'cek' | 'aop' | 'ept';

const SECRET_PREFIXES: ReadonlySet<string> = new Set<SecretPrefix>(['cak', 'cek', 'aop', 'ept']);
const SECRET_BYTES = 32;
// base64url of 32 bytes without padding: ceil(256 / 6) = 43 characters.
const SECRET_BODY_LENGTH = 43;
const BASE64URL_BODY = /^[A-Za-z0-9_-]{43}$/;
const DISPLAY_CHARS = 4;

const assertPrefix = (prefix: string): void => {
  if (!SECRET_PREFIXES.has(prefix)) throw new TypeError('unknown secret prefix');
};

/**
 * A new opaque secret: `prefix_` + base64url (no padding) of 256 random bits.
 * Store only {@link secretDigest} of it.
 *
 * @example
 *   mintSecret('cak') // => 'cak_3q2-7wEAAAAx…' (4 + 43 characters)
 */
export const mintSecret = (prefix: SecretPrefix): string => {
  assertPrefix(prefix);
  return `${prefix}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
};

/**
 * True when `value` has exactly the shape {@link mintSecret} produces for
 * `prefix`: the prefix, `_`, and 43 base64url characters that decode to 32
 * bytes and re-encode to themselves. A cheap pre-check before any lookup.
 *
 * @example
 *   isWellFormedSecret('cak', mintSecret('cak')) // => true
 *   isWellFormedSecret('cak', mintSecret('cek')) // => false
 */
export const isWellFormedSecret = (prefix: SecretPrefix, value: string): boolean => {
  if (!SECRET_PREFIXES.has(prefix) || typeof value !== 'string') return false;
  if (value.length !== prefix.length + 1 + SECRET_BODY_LENGTH || !value.startsWith(`${prefix}_`)) return false;
  const body = value.slice(prefix.length + 1);
  if (!BASE64URL_BODY.test(body)) return false;
  // The last character carries 2 unused bits; only one spelling is canonical.
  return Buffer.from(body, 'base64url').toString('base64url') === body;
};

/**
 * SHA-256 as lower-case hex; strings are hashed as UTF-8.
 *
 * @example
 *   sha256Hex('abc') // => 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 */
export const sha256Hex = (input: string | Uint8Array): string =>
  createHash('sha256').update(input).digest('hex');

/**
 * HMAC-SHA-256 as lower-case hex; strings are UTF-8.
 *
 * @example
 *   hmacSha256Hex('Jefe', 'what do ya want for nothing?')
 *   // => '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'
 */
export const hmacSha256Hex = (key: Uint8Array | string, input: string): string =>
  createHmac('sha256', key).update(input).digest('hex');

/**
 * The value stored for a secret and looked up by: SHA-256 hex of the whole
 * secret string, prefix included. A fast hash is right here because the secret
 * already has 256 bits of entropy; a slow KDF would only cost us CPU.
 *
 * @example
 *   secretDigest('cak_…') // => 64 hex characters
 */
export const secretDigest = (secret: string): string => sha256Hex(secret);

/**
 * The display fingerprint of a site enrollment key, `vN (XXXX)`: the rotation
 * version and the first 2 bytes of SHA-256(key) as upper-case hex. Lets an
 * operator tell which key a machine holds without showing the key.
 *
 * @example
 *   enrollmentKeyFingerprint('cek_…', 3) // => 'v3 (9F2A)'
 */
export const enrollmentKeyFingerprint = (key: string, version: number): string => {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError('version must be a non-negative integer');
  return `v${version} (${sha256Hex(key).slice(0, 4).toUpperCase()})`;
};

/**
 * The non-secret start of a secret for lists and audit rows: the prefix and
 * the first 4 characters after it (24 of 256 bits, useless to an attacker).
 *
 * @example
 *   secretDisplayStart('cak_Ab3xQ…') // => 'cak_Ab3x'
 */
export const secretDisplayStart = (secret: string): string => {
  const match = /^[a-z]{1,8}_/.exec(secret);
  const prefix = match?.[0] ?? '';
  return secret.slice(0, prefix.length + DISPLAY_CHARS);
};

/**
 * Constant-time string equality. Both sides are hashed first so the compared
 * buffers always have the same length and the time leaks neither the length
 * nor the position of the first difference.
 *
 * @example
 *   timingSafeEqualStrings(presented, expected) // => true | false
 */
export const timingSafeEqualStrings = (a: string, b: string): boolean => {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
};
