import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import type { TlsFlags } from './args.ts';
import { TransportError } from './http-errors.ts';
import { openTunnel } from './proxy.ts';

export { TransportError } from './http-errors.ts';

export interface HttpResponse {
  status: number;
  /** Parsed JSON body, or null when the body was empty or not JSON. */
  json: unknown;
  /** From the Retry-After header, in seconds, when present and numeric. */
  retryAfterSeconds: number | null;
}

export interface AgentRequest {
  body?: unknown;
  bearer?: string;
  signal?: AbortSignal;
}

export interface HttpClient {
  request(method: 'GET' | 'POST', path: string, init?: AgentRequest): Promise<HttpResponse>;
}

export interface ClientOptions {
  server: URL;
  tls: TlsFlags;
  userAgent: string;
  /** Per request, connect to last byte. */
  timeoutMs?: number;
  /** An http:// proxy to tunnel through (see proxyFor), or null/undefined for a direct connection. */
  proxy?: URL | null;
}

const MAX_BODY = 1024 * 1024;

/** `sha256:<hex>`, the form the edge's quickstart prints and --pin accepts. */
export const formatPin = (digest: Uint8Array): string => `sha256:${Buffer.from(digest).toString('hex')}`;

export const certificateSha256 = (der: Uint8Array): Buffer => createHash('sha256').update(der).digest();

/**
 * Builds the one HTTP client the agent uses. Every request opens a fresh
 * connection, and the TLS checks (CA chain, or the pin) complete before a
 * single request byte is written: the pairing code and poll token are never
 * sent to a server we have not verified.
 */
export const createHttpClient = async (options: ClientOptions): Promise<HttpClient> => {
  const ca = options.tls.caFile === undefined ? undefined : await readCa(options.tls.caFile);
  const { server } = options;
  const secure = server.protocol === 'https:';
  const host = server.hostname.replace(/^\[|\]$/g, '');
  const port = Number(server.port || (secure ? 443 : 80));
  const timeoutMs = options.timeoutMs ?? 30_000;

  const proxy = options.proxy ?? null;
  // Returns the tunnel too: destroying a TLS socket that wraps another socket does not close the one below.
  const connect = async (signal?: AbortSignal): Promise<{ socket: Socket; tunnel: Socket | undefined }> => {
    const tunnel = proxy ? await openTunnel(proxy, host, port, timeoutMs, signal) : undefined;
    if (!secure) return { socket: tunnel ?? (await connectPlain(host, port, timeoutMs, signal)), tunnel };
    try {
      const socket = await connectTls({ host, port, ca, pin: options.tls.pin, insecure: options.tls.insecure, timeoutMs, signal, tunnel });
      return { socket, tunnel };
    } catch (error) {
      tunnel?.destroy();
      throw error;
    }
  };

  return {
    async request(method, path, init = {}) {
      const { socket, tunnel } = await connect(init.signal);
      const payload = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body), 'utf8');
      const headers: http.OutgoingHttpHeaders = {
        'user-agent': options.userAgent,
        accept: 'application/json',
        connection: 'close',
      };
      if (payload) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
      try {
        return await send(socket, { host: server.host, method, path, headers, payload, timeoutMs, signal: init.signal });
      } finally {
        socket.destroy();
        tunnel?.destroy();
      }
    },
  };
};

const readCa = async (file: string): Promise<Buffer> => {
  try {
    return await fs.readFile(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TransportError('tls', `cannot read --ca-file ${file}: ${reason}`);
  }
};

interface TlsConnectOptions {
  host: string;
  port: number;
  ca: Buffer | undefined;
  pin: Buffer | undefined;
  insecure: boolean;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** A CONNECT tunnel through a proxy; TLS runs inside it. */
  tunnel?: Socket | undefined;
}

const connectTls = (o: TlsConnectOptions): Promise<tls.TLSSocket> =>
  new Promise((resolve, reject) => {
    // A pin names exactly one certificate, which is a stronger statement than
    // "some CA vouches for this host name"; a pinned self-signed certificate has
    // no chain and often no matching name, so with --pin alone the pin replaces
    // the chain and host name checks. With --pin and --ca-file both must hold.
    const verifyChain = o.pin === undefined ? !o.insecure : o.ca !== undefined;
    const socket = tls.connect({
      host: o.host,
      port: o.port,
      ...(o.tunnel ? { socket: o.tunnel } : {}),
      ...(isIP(o.host) === 0 ? { servername: o.host } : {}),
      ...(o.ca ? { ca: [...tls.rootCertificates, o.ca.toString('utf8')] } : {}),
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
      if (o.pin !== undefined) {
        const raw = socket.getPeerCertificate().raw;
        const actual = raw ? certificateSha256(raw) : Buffer.alloc(32);
        // Constant time out of habit: the pin is not secret, but comparing digests this way costs nothing.
        if (!raw || !timingSafeEqual(actual, o.pin)) {
          return fail(
            new TransportError(
              'pin',
              `the server presented a certificate with fingerprint ${formatPin(actual)}, which does not match --pin ${formatPin(o.pin)}`,
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

const connectPlain = (host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const fail = (error: TransportError) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new TransportError('timeout', `no connection to ${host}:${port} within ${timeoutMs / 1000} s`)), timeoutMs);
    const onError = (error: Error) => fail(classify(error, `${host}:${port}`));
    socket.once('error', onError);
    signal?.addEventListener('abort', () => fail(new TransportError('aborted', 'interrupted')), { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });

interface SendOptions {
  host: string;
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  payload: Buffer | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

const send = (socket: Socket, o: SendOptions): Promise<HttpResponse> =>
  new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: TransportError | null, response?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (error) {
        req.destroy();
        socket.destroy();
        reject(error);
      } else if (response) resolve(response);
    };
    const req = http.request({
      method: o.method,
      path: o.path,
      headers: { ...o.headers, host: o.host },
      // Hand over the socket we already verified; no agent, no pooling.
      createConnection: () => socket,
    });
    const onAbort = () => finish(new TransportError('aborted', 'interrupted'));
    const timer = setTimeout(() => finish(new TransportError('timeout', `no answer within ${o.timeoutMs / 1000} s`)), o.timeoutMs);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => finish(classify(error, o.host)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) return finish(new TransportError('protocol', 'the server sent an oversized response'));
        chunks.push(chunk);
      });
      res.on('error', (error) => finish(classify(error, o.host)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = text === '' ? null : JSON.parse(text);
        } catch {
          json = null;
        }
        const retry = res.headers['retry-after'];
        const retryAfterSeconds = typeof retry === 'string' && /^\d+$/.test(retry.trim()) ? Number(retry.trim()) : null;
        finish(null, { status: res.statusCode ?? 0, json, retryAfterSeconds });
        socket.destroy();
      });
    });
    req.end(o.payload);
  });

const TLS_CODE = /CERT|SSL|TLS|SIGNATURE|ISSUER|VERIFY/;

const classify = (error: Error, where: string): TransportError => {
  if (error instanceof TransportError) return error;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  if (code !== undefined && TLS_CODE.test(code)) {
    return new TransportError('tls', `TLS with ${where} failed: ${error.message}`, code);
  }
  return new TransportError('network', error.message.includes(where) ? error.message : `${error.message} (${where})`, code);
};
