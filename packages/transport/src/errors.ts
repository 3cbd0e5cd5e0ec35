/** Failures below HTTP: shared by the client and the proxy tunnel. */
export type TransportErrorKind = 'network' | 'tls' | 'pin' | 'timeout' | 'aborted' | 'protocol';

/** The request never produced an HTTP answer we can use. */
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
