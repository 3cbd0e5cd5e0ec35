import { pinMatches } from '@airlock/transport';
import { buildConnector } from 'undici';

export interface UpstreamTrust {
  /** PEM bundle that must have signed the api's certificate; null: system CAs (unless pinned). */
  ca: Buffer | null;
  /** Hex SHA-256 of the api's DER certificate (EDGE_UPSTREAM_PIN, parsed by @airlock/config); null: no pin. */
  pin: string | null;
}

/**
 * The socket factory for the edge → api hop. For an `https://` upstream it
 * hands a socket to the pool only after the api's certificate passed the CA
 * check and/or the pin, so not one byte of an enrollment request is written
 * to an impostor. With a pin alone the chain is not checked (a self-signed
 * api certificate is the common case); the pin is then the whole trust.
 *
 * undici rather than @airlock/transport: the edge keeps a pool of keep-alive
 * connections to the api (EDGE_UPSTREAM_MAX_INFLIGHT), where the transport
 * opens one connection per request by design. The pin comparison is shared.
 *
 * @example
 *   const connect = upstreamConnector(new URL('https://api.internal:8443'), { ca: null, pin: 'AB12…' }, 15_000);
 */
export const upstreamConnector = (upstream: URL, trust: UpstreamTrust, timeoutMs: number): buildConnector.connector => {
  const tls = upstream.protocol === 'https:';
  const base = buildConnector({
    timeout: timeoutMs,
    // noDelay: small JSON requests must not wait on Nagle for an ACK the api delays.
    noDelay: true,
    ...(tls
      ? {
          ...(trust.ca !== null ? { ca: trust.ca } : {}),
          rejectUnauthorized: trust.ca !== null || trust.pin === null,
          minVersion: 'TLSv1.2' as const,
        }
      : {}),
  });
  const pin = tls ? trust.pin : null;
  if (pin === null) return base;
  return (options, callback) => {
    base(options, (err, socket) => {
      if (err !== null || socket === null) {
        callback(err ?? new Error('upstream connection failed'), null);
        return;
      }
      const peer = 'getPeerCertificate' in socket ? socket.getPeerCertificate() : null;
      if (!pinMatches(peer?.raw, pin)) {
        socket.destroy();
        callback(Object.assign(new Error('upstream certificate does not match EDGE_UPSTREAM_PIN'), { code: 'EPINMISMATCH' }), null);
        return;
      }
      callback(null, socket);
    });
  };
};
