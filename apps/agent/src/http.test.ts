import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePin } from './args.ts';
import { TransportError, certificateSha256, createHttpClient, formatPin, type HttpClient } from './http.ts';

const run = promisify(execFile);

let tmp: string;
let certFile: string;
let server: https.Server;
let origin: URL;
let certHex: string;
let opensslColonForm: string;
/** Requests that reached the server's HTTP layer; a refused pin must leave this at zero. */
const seen: string[] = [];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-agent-tls-'));
  certFile = path.join(tmp, 'cert.pem');
  const keyFile = path.join(tmp, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile,
  ]);
  const { stdout } = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', certFile]);
  opensslColonForm = stdout.trim();
  const cert = await fs.readFile(certFile);
  certHex = certificateSha256(Buffer.from(new (await import('node:crypto')).X509Certificate(cert).raw)).toString('hex');
  server = https.createServer({ cert, key: await fs.readFile(keyFile) }, (req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '7' });
    res.end(JSON.stringify({ status: 'ok' }));
  });
  // All interfaces, so the host-name test can reach it as 127.0.0.2 (not in the certificate).
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  origin = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await fs.rm(tmp, { recursive: true, force: true });
});

const client = (tls: Parameters<typeof createHttpClient>[0]['tls'], url = origin): Promise<HttpClient> =>
  createHttpClient({ server: url, tls, userAgent: 'test' });

describe('createHttpClient over TLS', () => {
  it('agrees with openssl about the certificate fingerprint, so its output works as --pin', () => {
    expect(parsePin(opensslColonForm).toString('hex')).toBe(certHex);
  });

  it('connects to a self-signed server when the pin matches', async () => {
    const c = await client({ insecure: false, pin: Buffer.from(certHex, 'hex') });
    const response = await c.request('GET', '/api/v1/enroll/status', { bearer: 'tok' });
    expect(response).toEqual({ status: 200, json: { status: 'ok' }, retryAfterSeconds: 7 });
    expect(seen.at(-1)).toBe('GET /api/v1/enroll/status Bearer tok');
  });

  it('refuses a wrong pin before sending a single request byte', async () => {
    const before = seen.length;
    const wrong = Buffer.from(certHex, 'hex');
    wrong[0] = (wrong[0] ?? 0) ^ 0xff;
    const c = await client({ insecure: false, pin: wrong });
    const error = await c.request('POST', '/api/v1/enroll', { body: { pairing_code: 'SECRET' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).kind).toBe('pin');
    expect((error as TransportError).message).toContain(formatPin(Buffer.from(certHex, 'hex')));
    expect(seen.length).toBe(before);
  });

  it('refuses a self-signed certificate by default', async () => {
    const before = seen.length;
    const error = await (await client({ insecure: false })).request('GET', '/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).kind).toBe('tls');
    expect(seen.length).toBe(before);
  });

  it('trusts the certificate through --ca-file, with the host name still checked', async () => {
    const ok = await (await client({ insecure: false, caFile: certFile })).request('GET', '/ca');
    expect(ok.status).toBe(200);
    // Same certificate, but "127.0.0.2" is not in its subjectAltName.
    const port = (server.address() as AddressInfo).port;
    const wrongName = await (await client({ insecure: false, caFile: certFile }, new URL(`https://127.0.0.2:${port}`)))
      .request('GET', '/ca')
      .catch((e: unknown) => e);
    expect((wrongName as TransportError).kind).toBe('tls');
  });

  it('connects without verification only with --insecure', async () => {
    const response = await (await client({ insecure: true })).request('GET', '/insecure');
    expect(response.status).toBe(200);
  });

  it('reports a refused connection as a network failure', async () => {
    const closed = new URL('https://127.0.0.1:1');
    const error = await (await client({ insecure: false }, closed)).request('GET', '/').catch((e: unknown) => e);
    expect((error as TransportError).kind).toBe('network');
    expect((error as TransportError).code).toBe('ECONNREFUSED');
  });

  it('fails clearly when the --ca-file cannot be read', async () => {
    await expect(client({ insecure: false, caFile: path.join(tmp, 'missing.pem') })).rejects.toBeInstanceOf(TransportError);
  });
});

describe('createHttpClient through an http:// proxy (CONNECT)', () => {
  /** A real CONNECT proxy: it only ever sees the tunnel target and encrypted bytes. */
  const startProxy = async (answer: (head: string) => string | null) => {
    const seen: string[] = [];
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      sockets.add(client);
      client.once('data', (chunk: Buffer) => {
        const head = chunk.toString('latin1');
        seen.push(head);
        const refusal = answer(head);
        if (refusal !== null) {
          client.end(refusal);
          return;
        }
        const [, target = ''] = /^CONNECT (\S+) /.exec(head) ?? [];
        const [targetHost = '', targetPort = ''] = target.split(/:(?=\d+$)/);
        const upstream = net.connect(Number(targetPort), targetHost, () => {
          sockets.add(upstream);
          client.write('HTTP/1.1 200 Connection established\r\n\r\n');
          client.pipe(upstream).pipe(client);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = new URL(`http://user:p%40ss@127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    const close = () =>
      new Promise<void>((resolve) => {
        // A test proxy keeps no state worth a graceful shutdown.
        for (const socket of sockets) socket.destroy();
        proxy.close(() => resolve());
      });
    return { url, seen, close };
  };

  it('tunnels TLS end to end, the pin still checked, with proxy credentials', async () => {
    const proxy = await startProxy(() => null);
    try {
      const c = await createHttpClient({ server: origin, tls: { insecure: false, pin: Buffer.from(certHex, 'hex') }, userAgent: 'test', proxy: proxy.url });
      const response = await c.request('POST', '/api/v1/enroll', { body: { pairing_code: 'SECRET-CODE' } });
      expect(response.status).toBe(200);
      expect(proxy.seen[0]).toMatch(new RegExp(`^CONNECT 127\\.0\\.0\\.1:${origin.port} HTTP/1\\.1\\r\\n`));
      expect(proxy.seen[0]).toContain(`Proxy-Authorization: Basic ${Buffer.from('user:p@ss').toString('base64')}`);
      // The proxy only saw the CONNECT line: the body went through TLS.
      expect(proxy.seen.join('')).not.toContain('SECRET-CODE');

      const wrong = Buffer.from(certHex, 'hex');
      wrong[31] = (wrong[31] ?? 0) ^ 1;
      const refused = await (await createHttpClient({ server: origin, tls: { insecure: false, pin: wrong }, userAgent: 'test', proxy: proxy.url }))
        .request('GET', '/')
        .catch((e: unknown) => e);
      expect((refused as TransportError).kind).toBe('pin');
    } finally {
      await proxy.close();
    }
  });

  it('reports a proxy that refuses the tunnel as a network failure', async () => {
    const proxy = await startProxy(() => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    try {
      const c = await createHttpClient({ server: origin, tls: { insecure: false, pin: Buffer.from(certHex, 'hex') }, userAgent: 'test', proxy: proxy.url });
      const error = await c.request('GET', '/').catch((e: unknown) => e);
      expect((error as TransportError).kind).toBe('network');
      expect((error as TransportError).message).toContain('refused the tunnel');
      expect((error as TransportError).message).toContain('403 Forbidden');
      expect((error as TransportError).message).not.toContain('p%40ss');
    } finally {
      await proxy.close();
    }
  });
});
