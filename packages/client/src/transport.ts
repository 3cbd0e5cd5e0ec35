/**
 * One HTTP exchange with the api over node:http / node:https, so the CLI can
 * trust a private CA or pin the api's certificate (#8.8): AIRLOCK_API_CA (a
 * PEM file of CA certificates) and AIRLOCK_API_PIN (`sha256:<hex>` of the
 * api's certificate). With a pin the TLS handshake completes and the
 * certificate is compared BEFORE the request (and its bearer token) is
 * written; a mismatch closes the socket having sent nothing.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { isIP } from 'node:net';

export interface TlsTrust {
  /** PEM CA certificates to trust instead of the system store. */
  ca?: string;
  /** Lower-case hex SHA-256 of the api's DER certificate. */
  pinSha256?: string;
  /** The setting the pin came from, for the mismatch message (default AIRLOCK_API_PIN). */
  pinSetting?: string;
}

export interface RawResponse {
  status: number;
  statusText: string;
  body: string;
}

/** A failure before any answer: refused, reset, timeout, TLS verification or pin mismatch. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * `sha256:<64 hex>`, `<64 hex>` or `AA:BB:…` (as openssl prints it) → 64 lower-case hex, or null.
 *
 * @example
 *   parsePin('sha256:AB12…'); // 'ab12…'
 */
export const parsePin = (raw: string): string | null => {
  const hex = raw.trim().replace(/^sha256:/i, '').replaceAll(':', '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
};

const connectTls = (url: URL, trust: TlsTrust, timeoutMs: number): Promise<tls.TLSSocket> =>
  new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket = tls.connect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(trust.ca ? { ca: trust.ca } : {}),
      // A pin without a CA is the identity on its own: the chain is not checked, the fingerprint is.
      rejectUnauthorized: !(trust.pinSha256 && !trust.ca),
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => socket.destroy(new TransportError(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err instanceof TransportError ? err : new TransportError(err.code ?? err.message));
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      if (trust.pinSha256) {
        const seen = socket.getPeerCertificate().fingerprint256?.replaceAll(':', '').toLowerCase();
        if (seen !== trust.pinSha256) {
          socket.destroy();
          reject(new TransportError(`the api certificate does not match ${trust.pinSetting ?? 'AIRLOCK_API_PIN'}`));
          return;
        }
      }
      resolve(socket);
    });
  });

export const exchange = async (
  url: URL,
  opts: { method: string; headers: Record<string, string>; body?: string; trust: TlsTrust; timeoutMs: number },
): Promise<RawResponse> => {
  const socket = url.protocol === 'https:' ? await connectTls(url, opts.trust, opts.timeoutMs) : null;
  return new Promise((resolve, reject) => {
    const requestOptions: http.RequestOptions = {
      method: opts.method,
      headers: { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) },
      // No agent with our own socket: node:http uses createConnection only when there is none
      // (agent: false would open a fresh, unverified-by-us connection instead).
      ...(socket ? { createConnection: () => socket } : { agent: false }),
    };
    const req = (socket ? https : http).request(url, requestOptions, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        clearTimeout(timer);
        socket?.destroy();
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: text });
      });
      res.on('error', (err: NodeJS.ErrnoException) => reject(new TransportError(err.code ?? err.message)));
    });
    const timer = setTimeout(() => req.destroy(new TransportError(`no answer within ${opts.timeoutMs / 1000} s`)), opts.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket?.destroy();
      reject(err instanceof TransportError ? err : new TransportError(err.code ?? err.message));
    });
    req.end(opts.body);
  });
};
