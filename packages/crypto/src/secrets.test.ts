import { describe, expect, it } from 'vitest';
import {
  enrollmentKeyFingerprint,
  hmacSha256Hex,
  isWellFormedSecret,
  mintSecret,
  secretDigest,
  secretDisplayStart,
  sha256Hex,
  timingSafeEqualStrings,
  type SecretPrefix,
} from './secrets.ts';

const PREFIXES: readonly SecretPrefix[] = ['cak', 'cek', 'aop', 'ept'];

describe('mintSecret', () => {
  it('is the prefix, an underscore and 43 base64url characters', () => {
    for (const prefix of PREFIXES) {
      expect(mintSecret(prefix)).toMatch(new RegExp(`^${prefix}_[A-Za-z0-9_-]{43}$`));
    }
  });

  it('carries 256 bits: the body decodes to 32 bytes and re-encodes to itself', () => {
    const body = mintSecret('cak').slice(4);
    const bytes = Buffer.from(body, 'base64url');
    expect(bytes.length).toBe(32);
    expect(bytes.toString('base64url')).toBe(body);
  });

  it('never repeats and sets every bit position over many secrets', () => {
    const secrets = Array.from({ length: 1000 }, () => mintSecret('cek'));
    expect(new Set(secrets).size).toBe(1000);
    let ored = Buffer.alloc(32);
    let anded = Buffer.alloc(32, 0xff);
    for (const secret of secrets) {
      const bytes = Buffer.from(secret.slice(4), 'base64url');
      ored = Buffer.from(ored.map((byte, i) => byte | (bytes[i] ?? 0)));
      anded = Buffer.from(anded.map((byte, i) => byte & (bytes[i] ?? 0)));
    }
    expect(ored.equals(Buffer.alloc(32, 0xff))).toBe(true);
    expect(anded.equals(Buffer.alloc(32))).toBe(true);
  });

  it('refuses a prefix outside the catalogue', () => {
    expect(() => mintSecret('xyz' as SecretPrefix)).toThrow(TypeError);
  });
});

describe('isWellFormedSecret', () => {
  it('accepts what mintSecret makes for the same prefix', () => {
    for (const prefix of PREFIXES) expect(isWellFormedSecret(prefix, mintSecret(prefix))).toBe(true);
  });

  it('refuses a secret of another kind', () => {
    expect(isWellFormedSecret('cak', mintSecret('cek'))).toBe(false);
    expect(isWellFormedSecret('aop', mintSecret('ept'))).toBe(false);
  });

  it('refuses wrong lengths, padding, standard-base64 characters and whitespace', () => {
    const good = mintSecret('cak');
    expect(isWellFormedSecret('cak', good.slice(0, -1))).toBe(false);
    expect(isWellFormedSecret('cak', `${good}A`)).toBe(false);
    expect(isWellFormedSecret('cak', `${good.slice(0, -1)}=`)).toBe(false);
    expect(isWellFormedSecret('cak', `${good.slice(0, -1)}+`)).toBe(false);
    expect(isWellFormedSecret('cak', `${good.slice(0, -1)}/`)).toBe(false);
    expect(isWellFormedSecret('cak', ` ${good.slice(1)}`)).toBe(false);
    expect(isWellFormedSecret('cak', `${good}\n`)).toBe(false);
    expect(isWellFormedSecret('cak', good.toUpperCase())).toBe(false);
    expect(isWellFormedSecret('cak', '')).toBe(false);
  });

  it('refuses a non-canonical last character that decodes to the same bytes', () => {
    // 43 characters hold 258 bits; the last character's low 2 bits are unused
    // and must be zero. 'B' (000001) sets one of them.
    const body = `${'A'.repeat(42)}B`;
    expect(Buffer.from(body, 'base64url').equals(Buffer.alloc(32))).toBe(true);
    expect(isWellFormedSecret('cak', `cak_${'A'.repeat(43)}`)).toBe(true);
    expect(isWellFormedSecret('cak', `cak_${body}`)).toBe(false);
  });

  it('refuses non-string values from untyped callers', () => {
    expect(isWellFormedSecret('cak', 42 as unknown as string)).toBe(false);
  });
});

describe('hashes', () => {
  it('computes the FIPS 180-2 SHA-256 vector for "abc"', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(sha256Hex('abc'));
  });

  it('hashes strings as UTF-8', () => {
    expect(sha256Hex('é')).toBe(sha256Hex(new Uint8Array([0xc3, 0xa9])));
  });

  it('computes the RFC 4231 test case 2 HMAC-SHA-256', () => {
    expect(hmacSha256Hex('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(hmacSha256Hex(Buffer.from('Jefe'), 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('digests a secret as SHA-256 hex of the whole string, prefix included', () => {
    const secret = mintSecret('cak');
    expect(secretDigest(secret)).toBe(sha256Hex(secret));
    expect(secretDigest(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(secretDigest('cak_abc')).not.toBe(secretDigest('cek_abc'));
  });
});

describe('enrollmentKeyFingerprint', () => {
  it('is vN and the first two bytes of SHA-256(key) in upper-case hex', () => {
    // sha256('abc') starts ba78.
    expect(enrollmentKeyFingerprint('abc', 3)).toBe('v3 (BA78)');
    const key = mintSecret('cek');
    expect(enrollmentKeyFingerprint(key, 1)).toBe(`v1 (${sha256Hex(key).slice(0, 4).toUpperCase()})`);
    expect(enrollmentKeyFingerprint(key, 12)).toMatch(/^v12 \([0-9A-F]{4}\)$/);
  });

  it('refuses a version that is not a non-negative integer', () => {
    for (const version of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => enrollmentKeyFingerprint('abc', version)).toThrow(RangeError);
    }
  });
});

describe('secretDisplayStart', () => {
  it('shows the prefix and the first four characters only', () => {
    expect(secretDisplayStart('cak_Ab3xQ9zzzz')).toBe('cak_Ab3x');
    const secret = mintSecret('aop');
    expect(secretDisplayStart(secret)).toBe(secret.slice(0, 8));
  });

  it('shows at most four characters of something without a prefix', () => {
    expect(secretDisplayStart('Ab3xQ9zzzz')).toBe('Ab3x');
    expect(secretDisplayStart('')).toBe('');
  });
});

describe('timingSafeEqualStrings', () => {
  it('is true for equal strings and false otherwise, whatever the lengths', () => {
    const secret = mintSecret('cak');
    expect(timingSafeEqualStrings(secret, `${secret}`)).toBe(true);
    expect(timingSafeEqualStrings(secret, `${secret.slice(0, -1)}x`)).toBe(secret.endsWith('x'));
    expect(timingSafeEqualStrings(secret, secret.slice(0, 10))).toBe(false);
    expect(timingSafeEqualStrings('', '')).toBe(true);
    expect(timingSafeEqualStrings('', 'a')).toBe(false);
  });
});
