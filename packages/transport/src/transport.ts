/**
 * One HTTP exchange per call over a fresh connection that this module
 * opened and verified itself: direct or through a CONNECT proxy, then TLS
 * with the caller's trust (tls.ts) checked before the request is written,
 * bounded by a timeout per phase and by a response size. No pooling, no
 * redirects (a redirect would carry the bearer token wherever it points),
 * no retries: the callers decide those (the agent's flows, the CLI).
 */
import * as http from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { classify, TransportError } from './errors.ts';
import { openTunnel } from './proxy.ts';
import { connectTls, type TlsTrust } from './tls.ts';

export interface TransportOptions {
  /** Scheme, host and port of the server; a request's path is the caller's. */
  origin: URL;
  /** For an https:// origin. */
  trust?: TlsTrust;
  /** An http:// proxy to tunnel through (proxyFor), or null for a direct connection. */
  proxy?: URL | null;
  /** Each phase (connect, TLS handshake, answer) gets this long; default 30 s. */
  timeoutMs?: number;
  /** A larger answer is a `protocol` error; default 1 MiB. */
  maxResponseBytes?: number;
}

export interface TransportRequest {
  method: string;
  /** Path and query, e.g. `/api/v1/admin/audit?limit=10`. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Transport {
  readonly origin: URL;
  /** Rejects with a TransportError when no HTTP answer came; any status is an answer. */
  request(req: TransportRequest): Promise<TransportResponse>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE = 1024 * 1024;

/**
 * @example
 *   const t = createTransport({ origin: new URL('https://edge.example.com'), trust: { pinSha256: 'ab12…', pinSetting: '--pin' } });
 *   const res = await t.request({ method: 'GET', path: '/healthz' }); // TransportError 'pin' if the certificate differs
 */
export const createTransport = (options: TransportOptions): Transport => {
  const { origin } = options;
  const secure = origin.protocol === 'https:';
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  const port = Number(origin.port || (secure ? 443 : 80));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  const proxy = options.proxy ?? null;
  const trust = options.trust ?? {};

  // Returns the tunnel too: destroying a TLS socket that wraps another socket does not close the one below.
  const connect = async (signal?: AbortSignal): Promise<{ socket: Socket; tunnel: Socket | undefined }> => {
    const tunnel = proxy ? await openTunnel(proxy, host, port, timeoutMs, signal) : undefined;
    if (!secure) return { socket: tunnel ?? (await connectPlain(host, port, timeoutMs, signal)), tunnel };
    try {
      return { socket: await connectTls({ host, port, trust, timeoutMs, signal, tunnel }), tunnel };
    } catch (error) {
      tunnel?.destroy();
      throw error;
    }
  };

  return {
    origin,
    async request(req) {
      const { socket, tunnel } = await connect(req.signal);
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: origin.host, connection: 'close' };
      if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
      try {
        return await send(socket, { method: req.method, path: req.path, headers, body: req.body, timeoutMs, maxResponseBytes, signal: req.signal, where: origin.host });
      } finally {
        socket.destroy();
        tunnel?.destroy();
      }
    },
  };
};

const connectPlain = (host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const fail = (error: TransportError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error) => fail(classify(error, `${host}:${port}`));
    const onAbort = () => fail(new TransportError('aborted', 'interrupted'));
    const timer = setTimeout(() => fail(new TransportError('timeout', `no connection to ${host}:${port} within ${timeoutMs / 1000} s`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) return onAbort();
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });

interface SendOptions {
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  body: string | Buffer | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  signal: AbortSignal | undefined;
  /** For messages. */
  where: string;
}

const send = (socket: Socket, o: SendOptions): Promise<TransportResponse> =>
  new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: TransportError | null, response?: TransportResponse) => {
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
      headers: o.headers,
      // Hand over the socket we already verified; no agent, no pooling.
      createConnection: () => socket,
    });
    const onAbort = () => finish(new TransportError('aborted', 'interrupted'));
    const timer = setTimeout(() => finish(new TransportError('timeout', `no answer within ${o.timeoutMs / 1000} s`)), o.timeoutMs);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) return onAbort();
    req.on('error', (error) => finish(classify(error, o.where)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > o.maxResponseBytes) return finish(new TransportError('protocol', 'the server sent an oversized response'));
        chunks.push(chunk);
      });
      res.on('error', (error) => finish(classify(error, o.where)));
      res.on('end', () => {
        finish(null, { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks) });
        socket.destroy();
      });
    });
    req.end(o.body);
  });
