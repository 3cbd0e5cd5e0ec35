/**
 * A webhook receiver on loopback for the alerts tests (the api's and the chaos suite's), and a signature check
 * written from the contract's formula alone (HMAC-SHA256 over
 * "{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64 part of the
 * secret): it shares no code with the api's signer (the standardwebhooks package).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  json: { type?: string; timestamp?: string; data?: Record<string, unknown>; text?: string };
  /** Arrival, for ordering retries (never asserted against a duration). */
  at: number;
}

/** What to answer: a status, or 'hang' (never answer). */
export type Answer = number | 'hang';

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** The most requests carrying one webhook-id that were ever open at once. */
  maxConcurrentPerId: number;
  /** Requests open now (a hanging receiver holds them). */
  open(): number;
  answer(fn: (r: Received, nth: number) => Answer): void;
  close(): Promise<void>;
}

export const startReceiver = async (port = 0): Promise<Receiver> => {
  const received: Received[] = [];
  const openById = new Map<string, number>();
  let open = 0;
  let answerFn: (r: Received, nth: number) => Answer = () => 200;
  const state = { maxConcurrentPerId: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const r: Received = {
        id: String(req.headers['webhook-id']),
        timestamp: String(req.headers['webhook-timestamp']),
        signature: String(req.headers['webhook-signature']),
        body,
        json: JSON.parse(body) as Received['json'],
        at: performance.now(),
      };
      received.push(r);
      const n = (openById.get(r.id) ?? 0) + 1;
      openById.set(r.id, n);
      state.maxConcurrentPerId = Math.max(state.maxConcurrentPerId, n);
      open += 1;
      const done = () => {
        open -= 1;
        openById.set(r.id, (openById.get(r.id) ?? 1) - 1);
      };
      res.on('close', done);
      const a = answerFn(r, received.filter((x) => x.id === r.id).length);
      if (a === 'hang') return;
      res.writeHead(a, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/hook`,
    port: actual,
    received,
    get maxConcurrentPerId() {
      return state.maxConcurrentPerId;
    },
    open: () => open,
    answer: (fn) => {
      answerFn = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

/** The contract's signature check, by hand: true when one of the space-separated v1 signatures matches `secret`. */
export const signatureMatches = (r: Pick<Received, 'id' | 'timestamp' | 'signature' | 'body'>, secret: string): boolean => {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${r.id}.${r.timestamp}.${r.body}`).digest();
  return r.signature.split(' ').some((s) => {
    const [version, b64] = s.split(',');
    const got = Buffer.from(b64 ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
};
