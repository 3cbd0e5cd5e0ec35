/**
 * Issue #13, SIGTERM without resets: `close()` refuses new connections at
 * once, yet a client that connected before it, even one Node had not
 * `accept()`ed yet (still in the kernel's listen queue), may send its first
 * request and gets a full answer with `Connection: close`, never ECONNRESET.
 * Plain HTTP, HTTPS (handshake after the drain began), and HTTPS behind the
 * SSH demux. Real sockets; the edge runs in this process, so the test's
 * connects and the edge's accepts share one event loop, which is what leaves
 * connections in the listen queue when `close()` is called.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSshDemuxConfig } from './demux.ts';
import { startEdge, type RunningEdge } from './server.ts';
import { captureLogger, testConfig, type CapturedLog } from './testing/harness.ts';
import { type RecordingUpstream, startRecordingUpstream, waitFor } from '@airlock/testing';
import { ensureSelfSignedCert } from '@airlock/crypto';

const K = 12;
const STATUS = 'GET /api/v1/enroll/status HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer t\r\n\r\n';

let upstream: RecordingUpstream;
let sshUpstream: net.Server;
let dir: string;
let cert: { certPath: string; keyPath: string };

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  upstream.respond(202);
  // Stands in for sshd; these tests never send SSH.
  sshUpstream = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => sshUpstream.listen(0, '127.0.0.1', () => r()));
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-drain-'));
  cert = await ensureSelfSignedCert(dir);
});

afterAll(async () => {
  await upstream.close();
  sshUpstream.close();
  rmSync(dir, { recursive: true, force: true });
});

type Mode = 'http' | 'https' | 'https behind the SSH demux';

const start = async (mode: Mode, env: Record<string, string> = {}): Promise<RunningEdge & { logs: CapturedLog[] }> => {
  const logger = captureLogger();
  const all: Record<string, string> = {
    EDGE_UPSTREAM: upstream.url,
    EDGE_MAX_CONNECTIONS_PER_IP: '100',
    EDGE_SHUTDOWN_GRACE_MS: '20000',
    ...(mode === 'http' ? {} : { EDGE_TLS_CERT: cert.certPath, EDGE_TLS_KEY: cert.keyPath }),
    ...(mode === 'https behind the SSH demux'
      ? { EDGE_SSH_UPSTREAM: `127.0.0.1:${(sshUpstream.address() as net.AddressInfo).port}` }
      : {}),
    ...env,
  };
  const edge = await startEdge(testConfig(all), { logger, sshDemux: loadSshDemuxConfig(all) });
  return { ...edge, logs: logger.lines };
};

interface Outcome {
  raw: string;
  /** Transport error code, or 'end' when the edge closed the connection cleanly. */
  end: string;
}

/** Transport errors of each TCP socket since it connected (a reset may come before anyone watches). */
const errors = new WeakMap<net.Socket, string>();

/** Everything the edge sends on one connection until it closes it, and how it closed. */
const watch = (s: net.Socket, tcp: net.Socket = s): Promise<Outcome> =>
  new Promise((resolve) => {
    let raw = '';
    const outcome = () => ({ raw, end: errors.get(tcp) ?? errors.get(s) ?? 'end' });
    s.on('data', (d: Buffer) => (raw += d.toString('latin1')));
    s.on('error', (err: Error & { code?: string }) => errors.set(s, err.code ?? err.message));
    if (s.destroyed) resolve(outcome());
    else s.on('close', () => resolve(outcome()));
  });

const tcpConnect = (port: number): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
    s.on('error', (err: Error & { code?: string }) => errors.set(s, err.code ?? err.message));
  });

/** One request on an already connected TCP socket (TLS started on it first for HTTPS). */
const requestOn = (mode: Mode, tcp: net.Socket): Promise<Outcome> => {
  if (mode === 'http') {
    const done = watch(tcp);
    tcp.write(STATUS);
    return done;
  }
  const s = tls.connect({ socket: tcp, rejectUnauthorized: false });
  const done = watch(s, tcp);
  s.once('secureConnect', () => s.write(STATUS));
  return done;
};

const connectAfterClose = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });

describe.each<Mode>(['http', 'https', 'https behind the SSH demux'])('close() over %s', (mode) => {
  it('answers the first request of every connection made before it, with Connection: close, and refuses new ones', async () => {
    const edge = await start(mode);
    // A keep-alive connection that already has its answer: idle, so the drain closes it.
    const before = upstream.requests.length;
    const idleOutcome = requestOn(mode, await tcpConnect(edge.port));
    await waitFor(() => upstream.requests.length > before, 'the first request to reach the api');
    await waitFor(() => edge.logs.some((l) => l.msg === 'access'), 'the first answer');

    // K clients connect; the kernel completes their handshakes whether or not Node accepted them yet.
    const sockets = await Promise.all(Array.from({ length: K }, () => tcpConnect(edge.port)));
    const closed = edge.close();
    await waitFor(() => edge.logs.some((l) => l.msg === 'edge draining'), 'the edge to stop listening');
    expect(await connectAfterClose(edge.port)).toBe('ECONNREFUSED');

    const outcomes = await Promise.all(sockets.map((s) => requestOn(mode, s)));
    // How each connection ended and its status line: no reset, no empty close.
    expect(outcomes.map((o) => `${o.end}: ${o.raw.split('\r\n')[0]}`)).toEqual(Array(K).fill('end: HTTP/1.1 202 Accepted'));
    for (const o of outcomes) {
      expect(o.raw.toLowerCase()).toContain('\r\nconnection: close\r\n');
      const head = o.raw.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(o.raw)?.[1]);
      expect(Buffer.byteLength(o.raw.slice(head + 4), 'latin1')).toBe(length);
    }
    const kept = await idleOutcome;
    expect(kept.end).toBe('end');
    expect(kept.raw).toMatch(/^HTTP\/1\.1 202 /);
    await closed;
  });
});

describe('close() and a connection that never speaks', () => {
  it('answers it 408 at the header timeout, not a reset at the end of the grace period', async () => {
    const edge = await start('http', { EDGE_HEADERS_TIMEOUT_MS: '500', EDGE_CONNECTIONS_CHECK_MS: '100', EDGE_SHUTDOWN_GRACE_MS: '600000' });
    const silent = await tcpConnect(edge.port);
    const outcome = watch(silent);
    const closed = edge.close();
    const o = await outcome;
    expect(o.raw).toMatch(/^HTTP\/1\.1 408 /);
    expect(o.raw).toContain('"code":"request_timeout"');
    await closed;
  });
});

describe('close() while clients keep connecting', () => {
  it('holds a request until the listener is closed, so clients it answers cannot keep the listen queue busy', async () => {
    // An api of its own that notes, as each request arrives, whether the edge had stopped listening.
    let edge: (RunningEdge & { logs: CapturedLog[] }) | undefined;
    const arrivedAfterClose: boolean[] = [];
    const api = http.createServer((req, res) => {
      arrivedAfterClose.push(edge?.logs.some((l) => l.msg === 'edge draining') ?? false);
      req.resume();
      req.on('end', () => res.writeHead(202, { 'content-length': '0' }).end());
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
    try {
      edge = await start('http', { EDGE_UPSTREAM: `http://127.0.0.1:${(api.address() as net.AddressInfo).port}` });
      const port = edge.port;
      const client = await tcpConnect(port);
      // New connections one after another: every accept turn of the drain takes one in.
      const streamed: net.Socket[] = [];
      let streaming = true;
      const streamer = (async () => {
        while (streaming) {
          try {
            streamed.push(await tcpConnect(port));
          } catch {
            return; // refused: the listener is closed
          }
        }
      })();
      while (streamed.length < 3) await new Promise((r) => setImmediate(r));
      const closed = edge.close();
      const outcome = watch(client);
      client.write(STATUS);
      const o = await outcome;
      streaming = false;
      await streamer;
      for (const s of streamed) s.destroy();
      await closed;
      expect(`${o.end}: ${o.raw.split('\r\n')[0]}`).toBe('end: HTTP/1.1 202 Accepted');
      // Answered only once new connections were refused.
      expect(arrivedAfterClose).toEqual([true]);
      const drain = edge.logs.find((l) => l.msg === 'edge draining');
      expect(drain?.fields.accepted_while_stopping).toBeGreaterThan(0);
    } finally {
      api.close();
    }
  });
});
