/**
 * The TLS side of a connection: which certificate to believe (a private CA,
 * a pin, the system store) and the check itself, done when the handshake
 * completes and before the caller gets the socket, so not one byte of a
 * request (a bearer token, a pairing code) reaches a server that failed it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { formatPin } from '@airlock/config';
import { classify, TransportError } from './errors.ts';

/**
 * What vouches for the server of an https:// URL.
 *
 * - `ca` alone: that CA (instead of the system store, or besides it with
 *   `caWithSystem`); chain and host name are checked.
 * - `pinSha256` alone: exactly that certificate. A pinned certificate is
 *   often self-signed and named for nothing, so the pin replaces the chain
 *   and host name checks: it is the stronger statement.
 * - both: both must hold.
 * - neither: the system store, unless `insecure` (a lab only).
 */
export interface TlsTrust {
  /** PEM CA certificates. */
  ca?: string;
  /** With `ca`: trust the system store too (the agent's --ca-file adds a CA; the CLI's AIRLOCK_API_CA replaces the store). */
  caWithSystem?: boolean;
  /** Lower-case hex SHA-256 of the server's DER certificate (@airlock/config's parsePin). */
  pinSha256?: string;
  /** The setting or flag the pin came from, for the mismatch message (`--pin`, `AIRLOCK_API_PIN`). */
  pinSetting?: string;
  /** No verification at all; ignored with a pin or a CA. */
  insecure?: boolean;
}

export const certificateSha256 = (der: Uint8Array): Buffer => createHash('sha256').update(der).digest();

/**
 * Whether a DER certificate is the pinned one (`pinHex`: 64 hex digits, any
 * case). For TLS stacks this module does not drive itself (the edge's
 * pooled undici connections to the api).
 */
export const pinMatches = (der: Uint8Array | undefined, pinHex: string): boolean => {
  const pin = Buffer.from(pinHex, 'hex');
  // Constant time out of habit: the pin is not secret, but comparing digests this way costs nothing.
  return der !== undefined && pin.length === 32 && timingSafeEqual(certificateSha256(der), pin);
};

export interface TlsConnectOptions {
  host: string;
  port: number;
  trust: TlsTrust;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** A CONNECT tunnel through a proxy; TLS runs inside it, end to end with the server. */
  tunnel?: Socket | undefined;
}

/** Resolves with a socket whose certificate passed `trust`; rejects (having sent nothing) otherwise. */
export const connectTls = (o: TlsConnectOptions): Promise<tls.TLSSocket> =>
  new Promise((resolve, reject) => {
    const { trust } = o;
    const pin = trust.pinSha256;
    if (pin !== undefined && !/^[0-9a-fA-F]{64}$/.test(pin)) {
      reject(new TransportError('pin', `${trust.pinSetting ?? 'the pin'} is not a SHA-256 digest`));
      return;
    }
    const verifyChain = pin === undefined ? !trust.insecure : trust.ca !== undefined;
    const ca = trust.ca === undefined ? undefined : trust.caWithSystem ? [...tls.rootCertificates, trust.ca] : trust.ca;
    const socket = tls.connect({
      host: o.host,
      port: o.port,
      ...(o.tunnel ? { socket: o.tunnel } : {}),
      ...(isIP(o.host) === 0 ? { servername: o.host } : {}),
      ...(ca ? { ca } : {}),
      rejectUnauthorized: verifyChain,
      ALPNProtocols: ['http/1.1'],
    });
    const fail = (error: TransportError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error) => fail(classify(error, `${o.host}:${o.port}`));
    const onAbort = () => fail(new TransportError('aborted', 'interrupted'));
    const timer = setTimeout(
      () => fail(new TransportError('timeout', `no TLS handshake with ${o.host}:${o.port} within ${o.timeoutMs / 1000} s`)),
      o.timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      o.signal?.removeEventListener('abort', onAbort);
    };
    socket.on('error', onError);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) return onAbort();
    socket.once('secureConnect', () => {
      if (pin !== undefined) {
        const raw = socket.getPeerCertificate().raw as Buffer | undefined;
        if (!pinMatches(raw, pin)) {
          const seen = formatPin(raw ? certificateSha256(raw) : Buffer.alloc(32));
          return fail(
            new TransportError(
              'pin',
              `the server presented a certificate with fingerprint ${seen}, which does not match ${trust.pinSetting ?? 'the pin'} ${formatPin(pin)}`,
              'PIN_MISMATCH',
            ),
          );
        }
      } else if (verifyChain && !socket.authorized) {
        const reason = String(socket.authorizationError ?? 'unknown reason');
        return fail(new TransportError('tls', `certificate not trusted: ${reason}`, reason));
      }
      cleanup();
      resolve(socket);
    });
  });
