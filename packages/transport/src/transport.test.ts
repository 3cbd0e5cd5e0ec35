/**
 * The transport against real TLS and TCP servers: what reaches the server
 * when verification fails (nothing, not even the request line), and each
 * failure's kind. The CONNECT proxy and the agent's flags are covered in
 * apps/agent/src/http.test.ts, the CLI's settings in apps/api/test/api-tls.test.ts.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from './errors.ts';
import { certificateSha256, pinMatches } from './tls.ts';
import { createTransport, type TransportOptions } from './transport.ts';

const run = promisify(execFile);

let tmp: string;
let certPem: string;
let otherPem: string;
let certHex: string;
let server: tls.Server;
let port: number;
/** Every byte of application data the TLS server received, per connection. */
const received: string[] = [];
/** What the next answer's body is. */
let answerBody = '{"ok":true}';

const selfSigned = async (name: string): Promise<{ cert: string; key: string }> => {
  const cert = path.join(tmp, `${name}.crt`);
  const key = path.join(tmp, `${name}.key`);
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ]);
  return { cert: await fs.readFile(cert, 'utf8'), key: await fs.readFile(key, 'utf8') };
};

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-transport-'));
  const own = await selfSigned('server');
  certPem = own.cert;
  otherPem = (await selfSigned('other')).cert;
  certHex = certificateSha256(new X509Certificate(certPem).raw).toString('hex');
  // A raw TLS server: it records bytes, not parsed requests, so "nothing was sent" means nothing.
  server = tls.createServer({ cert: own.cert, key: own.key }, (socket) => {
    const i = received.push('') - 1;
    socket.on('data', (d: Buffer) => {
      received[i] += d.toString('latin1');
      if (received[i]?.includes('\r\n\r\n')) {
        socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${answerBody.length}\r\nconnection: close\r\n\r\n${answerBody}`);
      }
    });
    socket.on('error', () => socket.destroy());
  });
  // All interfaces, so the host-name test can reach it as 127.0.0.2 (not in the certificate).
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await fs.rm(tmp, { recursive: true, force: true });
});

const at = (trust: TransportOptions['trust'], extra: Partial<TransportOptions> = {}) =>
  createTransport({ origin: new URL(`https://127.0.0.1:${port}`), trust, timeoutMs: 5_000, ...extra });

const failure = async (p: Promise<unknown>): Promise<TransportError> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  return err as TransportError;
};

const TOKEN = 'Bearer aop_never-on-the-wire';

describe('createTransport over TLS', () => {
  it('sends the request once the pinned certificate is the one presented', async () => {
    const res = await at({ pinSha256: certHex, pinSetting: 'AIRLOCK_API_PIN' }).request({ method: 'GET', path: '/readyz?x=1', headers: { authorization: TOKEN } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString('utf8'))).toEqual({ ok: true });
    expect(received.at(-1)).toMatch(new RegExp(`^GET /readyz\\?x=1 HTTP/1\\.1\\r\\n[\\s\\S]*host: 127\\.0\\.0\\.1:${port}\\r\\n`, 'i'));
    expect(received.at(-1)).toMatch(/connection: close/i);
  });

  it('writes not one byte, token included, to a server whose certificate does not match the pin', async () => {
    const before = received.length;
    const wrong = `${certHex.slice(0, 63)}${certHex.endsWith('0') ? '1' : '0'}`;
    const err = await failure(at({ pinSha256: wrong, pinSetting: 'TUNNEL_API_PIN' }).request({ method: 'POST', path: '/x', headers: { authorization: TOKEN }, body: '{}' }));
    expect(err.kind).toBe('pin');
    expect(err.message).toBe(`the server presented a certificate with fingerprint sha256:${certHex}, which does not match TUNNEL_API_PIN sha256:${wrong}`);
    // The handshake happened (the message names the server's certificate); not one byte came after it.
    await new Promise((r) => setTimeout(r, 50));
    expect(received.slice(before).join('')).toBe('');
  });

  it('checks the chain and the host name against a CA, and refuses another CA', async () => {
    expect((await at({ ca: certPem }).request({ method: 'GET', path: '/' })).status).toBe(200);
    expect((await at({ ca: certPem, caWithSystem: true }).request({ method: 'GET', path: '/' })).status).toBe(200);
    const before = received.length;
    expect((await failure(at({ ca: otherPem }).request({ method: 'GET', path: '/', headers: { authorization: TOKEN } }))).kind).toBe('tls');
    const wrongName = createTransport({ origin: new URL(`https://127.0.0.2:${port}`), trust: { ca: certPem }, timeoutMs: 5_000 });
    expect((await failure(wrongName.request({ method: 'GET', path: '/' }))).kind).toBe('tls');
    expect(received.slice(before).join('')).toBe('');
  });

  it('refuses a self-signed certificate with no CA and no pin, unless told to trust anything', async () => {
    expect((await failure(at({}).request({ method: 'GET', path: '/' }))).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect((await at({ insecure: true }).request({ method: 'GET', path: '/' })).status).toBe(200);
  });

  it('refuses an answer larger than its bound', async () => {
    answerBody = JSON.stringify({ pad: 'x'.repeat(4096) });
    try {
      const err = await failure(at({ pinSha256: certHex }, { maxResponseBytes: 1024 }).request({ method: 'GET', path: '/' }));
      expect(err.kind).toBe('protocol');
    } finally {
      answerBody = '{"ok":true}';
    }
  });

  it('compares a pin in any case (the edge keeps its upper-case)', () => {
    const der = new X509Certificate(certPem).raw;
    expect(pinMatches(der, certHex.toUpperCase())).toBe(true);
    expect(pinMatches(der, 'ab'.repeat(32))).toBe(false);
    expect(pinMatches(undefined, certHex)).toBe(false);
    expect(pinMatches(der, 'nothex')).toBe(false);
  });
});

describe('createTransport failures', () => {
  it('a refused connection is a network failure with its code', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const err = await failure(createTransport({ origin: new URL(`http://127.0.0.1:${closed}`) }).request({ method: 'GET', path: '/' }));
    expect(err).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
  });

  it('a server that never answers is a timeout; an abort is an abort', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const origin = new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      expect((await failure(createTransport({ origin, timeoutMs: 200 }).request({ method: 'GET', path: '/' }))).kind).toBe('timeout');
      const controller = new AbortController();
      const pending = createTransport({ origin }).request({ method: 'GET', path: '/', signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      expect((await failure(pending)).kind).toBe('aborted');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
