/** Why a request never produced an HTTP answer the caller can use. */
export type TransportErrorKind = 'network' | 'tls' | 'pin' | 'timeout' | 'aborted' | 'protocol';

/**
 * The request never produced an HTTP answer we can use: refused, reset, a
 * proxy that said no, TLS verification, a pin mismatch (nothing was sent), a
 * timeout, an interruption or an answer too large or malformed to read.
 */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly kind: TransportErrorKind,
    message: string,
    /** The OS or OpenSSL code, e.g. ECONNREFUSED or DEPTH_ZERO_SELF_SIGNED_CERT. */
    readonly code?: string,
  ) {
    super(message);
  }
}

const TLS_CODE = /CERT|SSL|TLS|SIGNATURE|ISSUER|VERIFY/;

/** A socket or TLS error as a TransportError, naming where it happened. */
export const classify = (error: Error, where: string): TransportError => {
  if (error instanceof TransportError) return error;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  if (code !== undefined && TLS_CODE.test(code)) {
    return new TransportError('tls', `TLS with ${where} failed: ${error.message}`, code);
  }
  return new TransportError('network', error.message.includes(where) ? error.message : `${error.message} (${where})`, code);
};
