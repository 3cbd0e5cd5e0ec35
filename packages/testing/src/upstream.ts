import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface RecordingUpstream {
  port: number;
  url: string;
  requests: Recorded[];
  /** Status (and optional delay) for the next answers. */
  respond: (status: number, delayMs?: number) => void;
  close: () => Promise<void>;
}

/** A stand-in api that records every request it receives, byte for byte where it matters. */
export const startRecordingUpstream = async (port = 0): Promise<RecordingUpstream> => {
  const requests: Recorded[] = [];
  let status = 200;
  let delay = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = () => {
        const body =
          status >= 400
            ? JSON.stringify({ error: { code: status === 401 ? 'enrollment_denied' : 'invalid_request', message: 'upstream says no' } })
            : JSON.stringify({ ok: true });
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    requests,
    respond: (s, d = 0) => {
      status = s;
      delay = d;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
};

