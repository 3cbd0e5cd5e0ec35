// SSH wire-format helpers (RFC 4251 §5) shared by ssh.ts and signatures.ts.
// Internal: not re-exported from the package.

export const ED25519_KEY_TYPE = 'ssh-ed25519';
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** Thrown by {@link WireReader} on truncated or malformed input. */
export class WireError extends Error {
  override name = 'WireError';
}

/** Reads length-prefixed SSH fields, refusing to run past the end. */
export class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  uint32(): number {
    if (this.buf.length - this.offset < 4) throw new WireError('truncated');
    const value = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length: number): Buffer {
    if (length > this.buf.length - this.offset) throw new WireError('truncated');
    const value = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  /** A string field that must be printable ASCII, e.g. a type or namespace. */
  text(): string {
    const raw = this.string();
    for (const byte of raw) if (byte < 0x20 || byte > 0x7e) throw new WireError('not ASCII text');
    return raw.toString('latin1');
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  /** Trailing bytes are how type confusion and smuggling start: refuse them. */
  end(): void {
    if (this.remaining !== 0) throw new WireError('trailing bytes');
  }
}

export const wireUint32 = (value: number): Buffer => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
};

export const wireString = (value: Uint8Array | string): Buffer => {
  const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  return Buffer.concat([wireUint32(body.length), body]);
};

/** The wire blob of an Ed25519 public key: string "ssh-ed25519" + string key. */
export const ed25519Blob = (rawPublicKey: Uint8Array): Buffer =>
  Buffer.concat([wireString(ED25519_KEY_TYPE), wireString(rawPublicKey)]);

/**
 * The encodings of the 8 small-order points of edwards25519 (and the
 * non-canonical spellings of 0 and 1), compared without the sign bit, as in
 * libsodium's blocklist. A "public key" of small order has no private key, and
 * with it anyone can forge signatures that a cofactorless verifier accepts, so
 * it must never become an agent's identity.
 */
const SMALL_ORDER_Y: readonly string[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

export const isSmallOrderEd25519Key = (rawPublicKey: Uint8Array): boolean => {
  if (rawPublicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  const y = Buffer.from(rawPublicKey);
  y[31] = (y[31] ?? 0) & 0x7f;
  return SMALL_ORDER_Y.includes(y.toString('hex'));
};

/**
 * The raw 32-byte key inside an ssh-ed25519 wire blob; throws WireError unless
 * the blob is exactly string "ssh-ed25519" + string of 32 bytes.
 */
export const rawKeyFromEd25519Blob = (blob: Uint8Array): Buffer => {
  const reader = new WireReader(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength));
  if (reader.text() !== ED25519_KEY_TYPE) throw new WireError('not an ssh-ed25519 key');
  const key = reader.string();
  if (key.length !== ED25519_PUBLIC_KEY_BYTES) throw new WireError('key is not 32 bytes');
  reader.end();
  return key;
};

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard padded base64, or returns null. Node's decoder skips junk
 * and ignores unused bits, so we insist the input re-encodes to itself: one
 * byte string, one spelling.
 */
export const decodeStrictBase64 = (text: string): Buffer | null => {
  if (text.length === 0 || !STRICT_BASE64.test(text)) return null;
  const decoded = Buffer.from(text, 'base64');
  return decoded.toString('base64') === text ? decoded : null;
};
