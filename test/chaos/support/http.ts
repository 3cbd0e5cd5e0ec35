/**
 * One HTTP(S) client for the chaos tests: a chosen loopback source address
 * (localAddress), a hard deadline per request, the time it took, and the raw
 * body and headers (for byte-for-byte comparisons).
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface Hit {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

export interface HitOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  headers?: Record<string, string>;
  /** Source address, e.g. 127.0.3.7: the edge sees a different client per address. */
  localAddress?: string;
  agent?: http.Agent | false;
  timeoutMs?: number;
}

/**
 * A transport error from `hit`, with when the request began (performance.now(),
 * just before its connect) and whether its TLS handshake completed. A reset
 * before the handshake is a connection the server never spoke TLS on (the
 * request itself is sent only after it); one after it is a request the server
 * dropped.
 */
export interface HitError extends Error {
  code?: string;
  startedAt: number;
  secure: boolean;
}

/** Resolves with the answer, or rejects with a HitError (refused, reset, timeout). */
export const hit = (url: string, opts: HitOptions = {}): Promise<Hit> =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    const payload = opts.body === undefined ? null : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const started = performance.now();
    let secure = false;
    const fail = (err: Error): void => reject(Object.assign(err, { startedAt: started, secure }));
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: opts.method ?? (payload === null ? 'GET' : 'POST'),
        agent: opts.agent ?? false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        // The test's own self-signed edge; the real agents pin it properly.
        ...(u.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
        headers: {
          ...(payload === null ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
          ...opts.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - started }));
        // Headers came and then the connection died: a cut answer, never to be confused with a refused connection.
        const cut = () => fail(Object.assign(new Error('response cut off'), { code: 'TRUNCATED' }));
        res.on('aborted', cut);
        res.on('error', cut);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on('socket', (socket) => socket.once('secureConnect', () => (secure = true)));
    req.on('error', fail);
    req.end(payload ?? undefined);
  });

/** Quantile of a sample (nearest rank). */
export const quantile = (values: number[], q: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
};

/** `127.0.{a}.{b}` addresses, skipping 127.0.0.x (the stack's own). */
export const loopbackAddresses = (count: number, firstOctet3 = 1): string[] =>
  Array.from({ length: count }, (_, i) => `127.0.${firstOctet3 + Math.floor(i / 250)}.${(i % 250) + 1}`);

/** Writes a figure where docs/operations.md's "What survives what" table is built from. */
export const report = (what: string, figures: Record<string, unknown>): void => {
  process.stdout.write(`[chaos] ${what}: ${JSON.stringify(figures)}\n`);
};
