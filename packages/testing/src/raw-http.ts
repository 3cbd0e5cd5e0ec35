/** Exact bytes over a real socket, for tests of what a server does with malformed or hostile HTTP. */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface RawResponse {
  status: number | null;
  headers: Record<string, string>;
  body: string;
  raw: string;
  /** The server closed the connection (rather than us after a complete answer). */
  closedByServer: boolean;
}

const parseResponse = (raw: string): { head: RawResponse; complete: boolean } | null => {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const body = raw.slice(end + 4);
  const len = headers['content-length'] === undefined ? null : Number(headers['content-length']);
  return {
    head: { status: m?.[1] ? Number(m[1]) : null, headers, body, raw, closedByServer: false },
    complete: len !== null && Buffer.byteLength(body) >= len,
  };
};

/**
 * Sends exact bytes and reads one response. Resolves when the response is
 * complete or the server closes the socket.
 */
export const rawRequest = (
  port: number,
  bytes: string | Buffer,
  opts: { tls?: boolean; timeoutMs?: number } = {},
): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const socket: Socket = opts.tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : connect({ port, host: '127.0.0.1' });
    let raw = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const parsed = parseResponse(raw);
      socket.destroy();
      resolve(
        parsed
          ? { ...parsed.head, closedByServer }
          : { status: null, headers: {}, body: '', raw, closedByServer },
      );
    };
    const timer = setTimeout(() => {
      if (!done) {
        done = true;
        socket.destroy();
        reject(new Error(`no response within ${opts.timeoutMs ?? 10_000} ms; got: ${JSON.stringify(raw.slice(0, 200))}`));
      }
    }, opts.timeoutMs ?? 10_000);
    socket.on(opts.tls ? 'secureConnect' : 'connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      // Skip interim 1xx answers (100 Continue) when deciding completeness.
      const interim = /^HTTP\/1\.1 1\d\d [^\r]*\r\n\r\n/.exec(raw);
      const parsed = parseResponse(interim ? raw.slice(interim[0].length) : raw);
      if (parsed?.complete) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });

/** A well-formed request, for building variants. */
export const req = (
  method: string,
  target: string,
  headers: Array<[string, string]> = [],
  body = '',
  version = 'HTTP/1.1',
): string => {
  const hasHost = headers.some(([n]) => n.toLowerCase() === 'host');
  const all: Array<[string, string]> = [...(hasHost ? [] : [['Host', 'edge.test'] as [string, string]]), ...headers];
  return `${method} ${target} ${version}\r\n${all.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${body}`;
};

export const jsonPost = (target: string, body: string, extra: Array<[string, string]> = []): string =>
  req(
    'POST',
    target,
    [['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))], ...extra],
    body,
  );

