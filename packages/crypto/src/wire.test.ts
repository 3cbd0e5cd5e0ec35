import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { WireError, WireReader, decodeStrictBase64, isSmallOrderEd25519Key, rawKeyFromEd25519Blob, wireString } from './wire.ts';

// Just enough edwards25519 arithmetic (RFC 8032 §5.1) to check the small-order
// blocklist independently instead of trusting a copied table.
const P = 2n ** 255n - 19n;
const mod = (a: bigint): bigint => ((a % P) + P) % P;
const pow = (base: bigint, exponent: bigint): bigint => {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = mod(result * b);
    b = mod(b * b);
  }
  return result;
};
const inv = (a: bigint): bigint => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

type Point = { x: bigint; y: bigint };
/** RFC 8032 §5.1.3 decoding; null for encodings that are not points. */
const decode = (bytes: Uint8Array): Point | null => {
  const copy = Buffer.from(bytes);
  const sign = (copy[31] ?? 0) >> 7;
  copy[31] = (copy[31] ?? 0) & 0x7f;
  const y = BigInt(`0x${Buffer.from(copy).reverse().toString('hex')}`);
  if (y >= P) return null;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  if (mod(v * x * x) !== u) {
    if (mod(v * x * x) !== mod(-u)) return null;
    x = mod(x * SQRT_M1);
  }
  if (x === 0n && sign === 1) return null;
  if (Number(x & 1n) !== sign) x = mod(-x);
  return { x, y };
};
const add = (a: Point, b: Point): Point => {
  const t = mod(D * a.x * b.x * a.y * b.y);
  return {
    x: mod((a.x * b.y + b.x * a.y) * inv(1n + t)),
    y: mod((a.y * b.y + a.x * b.x) * inv(1n - t)),
  };
};
const timesEight = (p: Point): Point => {
  let q = p;
  for (let i = 0; i < 3; i++) q = add(q, q);
  return q;
};
const isIdentity = (p: Point): boolean => p.x === 0n && p.y === 1n;

describe('isSmallOrderEd25519Key', () => {
  it('flags exactly the encodings that decode to points of order dividing 8', () => {
    // Every canonical small-order point, found by brute force over the y values
    // in the table with both sign bits, must be flagged; so must the
    // non-canonical spellings that do not decode at all.
    const candidates: Buffer[] = [];
    for (const hex of [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ]) {
      const plain = Buffer.from(hex, 'hex');
      const signed = Buffer.from(plain);
      signed[31] = (signed[31] ?? 0) | 0x80;
      candidates.push(plain, signed);
    }
    let smallOrderPoints = 0;
    for (const candidate of candidates) {
      const point = decode(candidate);
      expect(isSmallOrderEd25519Key(candidate)).toBe(true);
      if (point !== null) {
        expect(isIdentity(timesEight(point))).toBe(true);
        smallOrderPoints++;
      }
    }
    // The torsion subgroup has 8 elements; x = 0 points have one encoding.
    expect(smallOrderPoints).toBe(8);
  });

  it('does not flag real public keys', () => {
    for (let i = 0; i < 50; i++) {
      const { publicKey } = nacl.sign.keyPair();
      const point = decode(publicKey);
      expect(point).not.toBeNull();
      if (point) expect(isIdentity(timesEight(point))).toBe(false);
      expect(isSmallOrderEd25519Key(publicKey)).toBe(false);
    }
  });
});

describe('WireReader', () => {
  it('reads strings and refuses to run past the end or leave bytes behind', () => {
    const buf = Buffer.concat([wireString('ssh-ed25519'), wireString(new Uint8Array([1, 2]))]);
    const reader = new WireReader(buf);
    expect(reader.text()).toBe('ssh-ed25519');
    expect([...reader.string()]).toEqual([1, 2]);
    expect(() => reader.end()).not.toThrow();
    expect(() => reader.uint32()).toThrow(WireError);
    expect(() => new WireReader(Buffer.from([0, 0, 0, 9, 1])).string()).toThrow(WireError);
    expect(() => new WireReader(Buffer.from([0xff, 0xff, 0xff, 0xff])).string()).toThrow(WireError);
    expect(() => new WireReader(Buffer.concat([wireString('a\nb')])).text()).toThrow(WireError);
  });

  it('takes the key out of an ssh-ed25519 blob and nothing else', () => {
    const key = randomBytes(32);
    const blob = Buffer.concat([wireString('ssh-ed25519'), wireString(key)]);
    expect(rawKeyFromEd25519Blob(blob).equals(key)).toBe(true);
    expect(rawKeyFromEd25519Blob(new Uint8Array(blob)).equals(key)).toBe(true);
    expect(() => rawKeyFromEd25519Blob(Buffer.concat([blob, Buffer.from([0])]))).toThrow(WireError);
  });
});

describe('decodeStrictBase64', () => {
  it('decodes canonical padded base64 and nothing else', () => {
    expect(decodeStrictBase64('YWJj')?.toString()).toBe('abc');
    expect(decodeStrictBase64('YWI=')?.toString()).toBe('ab');
    expect(decodeStrictBase64('YQ==')?.toString()).toBe('a');
    for (const bad of ['', 'YWI', 'YQ', 'YQ=', 'YR==', 'YWJ=', 'YW J', 'YWJj\n', 'YW-j', 'YW_j', '====', 'Y===', 'YQ==YQ==']) {
      expect(decodeStrictBase64(bad)).toBeNull();
    }
  });
});
