/**
 * A real HTTPS server that plays a hostile (or broken) Airlock edge: each
 * test decides what it answers, byte for byte. Both clients are run against
 * it as real processes to prove that nothing a server says can reach a state
 * file, the terminal or a later --resume unchecked.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureSelfSignedCert } from '@airlock/crypto';

export interface Reply {
  status: number;
  /** Sent exactly as given (a string), so tests can send JSON no encoder would produce. */
  body: string;
  headers?: Record<string, string>;
}

export interface SeenRequest {
  method: string;
  path: string;
  body: string;
}

export type Handler = (request: SeenRequest) => Reply | undefined;

export interface HostileServer {
  url: string;
  /** `sha256:HEX` of the server certificate, for --pin. */
  pin: string;
  seen: SeenRequest[];
  /** Replaces the answers from now on. */
  answer(handler: Handler): void;
  close(): Promise<void>;
}

export const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value) });

export const startHostileServer = async (): Promise<HostileServer> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'airlock-hostile-'));
  const cert = await ensureSelfSignedCert(dir);
  let handler: Handler = () => undefined;
  const seen: SeenRequest[] = [];
  const server = https.createServer({ cert: await readFile(cert.certPath), key: await readFile(cert.keyPath) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = { method: req.method ?? '', path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') };
      if (request.path !== '/healthz') seen.push(request);
      const reply =
        request.path === '/healthz' ? json(200, { status: 'ok' }) : (handler(request) ?? json(404, { error: { code: 'not_found', message: 'no route' } }));
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    pin: `sha256:${cert.fingerprint256.replaceAll(':', '').toLowerCase()}`,
    seen,
    answer: (next) => {
      handler = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
};
