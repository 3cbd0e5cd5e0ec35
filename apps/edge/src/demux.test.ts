/**
 * SSH and HTTPS on one port: a real edge (TLS on) in front of a real TCP
 * upstream standing in for sshd, real Redis, real sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSshDemuxConfig } from './demux.ts';
import { startEdge, type RunningEdge } from './server.ts';
import { captureLogger, testConfig } from './testing/harness.ts';
import { deletePrefix, REDIS_URL, uniquePrefix, waitFor } from '@airlock/testing';
import { ensureSelfSignedCert } from '@airlock/crypto';

interface Upstream {
  port: number;
  received: Map<number, Buffer>;
  server: net.Server;
}

/** A TCP server that records what each connection sent, keyed by the peer (edge-side) port. */
const startUpstream = async (): Promise<Upstream> => {
  const received = new Map<number, Buffer>();
  const server = net.createServer((s) => {
    const port = s.remotePort ?? 0;
    received.set(port, Buffer.alloc(0));
    s.on('data', (d: Buffer) => {
      received.set(port, Buffer.concat([received.get(port) ?? Buffer.alloc(0), d]));
      // Answers like a server would, so the pipe is shown to run both ways.
      if (d.includes('ping')) s.write('pong');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, received, server };
};

/** Connects, optionally writes, and resolves when the edge closes the socket (with whatever came back). */
const exchange = (port: number, write: Buffer | string | null, opts: { localAddress?: string } = {}) =>
  new Promise<{ data: Buffer; closedByPeer: boolean }>((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', ...opts });
    let data = Buffer.alloc(0);
    s.on('connect', () => write !== null && s.write(write));
    s.on('data', (d: Buffer) => (data = Buffer.concat([data, d])));
    s.on('error', () => {});
    s.on('close', () => resolve({ data, closedByPeer: true }));
  });

const healthz = (port: number) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

let upstream: Upstream;
let edge: RunningEdge;
let prefix: string;
let dir: string;
const logs = captureLogger();

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-demux-'));
  const cert = await ensureSelfSignedCert(dir);
  prefix = uniquePrefix();
  const env = {
    EDGE_TLS_CERT: cert.certPath,
    EDGE_TLS_KEY: cert.keyPath,
    REDIS_URL,
    EDGE_REDIS_PREFIX: prefix,
    EDGE_HEADERS_TIMEOUT_MS: '800',
    EDGE_MAX_CONNECTIONS_PER_IP: '10',
    EDGE_SSH_UPSTREAM: `127.0.0.1:${upstream.port}`,
    EDGE_LIMIT_SSH_PER_MIN: '1000',
  };
  edge = await startEdge(testConfig(env), { logger: logs, sshDemux: loadSshDemuxConfig(env) });
});
afterAll(async () => {
  await edge.close();
  upstream.server.close();
  await deletePrefix(REDIS_URL, prefix);
  rmSync(dir, { recursive: true, force: true });
});

describe('the SSH demux', () => {
  it('pipes an SSH client byte for byte both ways and notes its address in Redis', async () => {
    const payload = Buffer.concat([Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), Buffer.from([0, 1, 2, 0xff, 0x16, 0x00]), Buffer.from('ping')]);
    const s = net.connect({ port: edge.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.write(payload);
    const pong = await new Promise<Buffer>((r) => s.once('data', r));
    expect(pong.toString()).toBe('pong');
    const [edgePort, got] = await waitFor(() => [...upstream.received].find(([, b]) => b.equals(payload)), 'the upstream to receive the bytes');
    expect(got).toEqual(payload);
    // The tunnel resolves the agent's address from this note: edge side (address:port) -> client.
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.get(`${prefix}ssh-peer:127.0.0.1:${edgePort}`)).toBe('127.0.0.2');
      expect(await redis.ttl(`${prefix}ssh-peer:127.0.0.1:${edgePort}`)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
    s.destroy();
  });

  it('serves HTTPS on the same port: GET /healthz answers', async () => {
    expect(await healthz(edge.port)).toEqual({ status: 200, body: '{"status":"ok"}' });
  });

  it('gives a closed HTTPS connection back to its address: 25 in a row past a cap of 10', async () => {
    for (let i = 0; i < 25; i++) expect((await healthz(edge.port)).status).toBe(200);
  });

  it('closes plain HTTP, garbage and SSH-1 greetings without piping them', async () => {
    const before = upstream.received.size;
    for (const bytes of ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', '\x00\x01garbage', 'SSH-1.5-old\r\n', 'SSH-2.1-odd\r\n']) {
      const r = await exchange(edge.port, bytes);
      expect(r.closedByPeer).toBe(true);
      expect(r.data.length).toBe(0);
    }
    expect(upstream.received.size).toBe(before);
  });

  it('closes a silent connection and a half-sent SSH greeting at the header timeout', async () => {
    const before = upstream.received.size;
    const [silent, half] = await Promise.all([exchange(edge.port, null), exchange(edge.port, 'SSH-2')]);
    expect(silent.closedByPeer).toBe(true);
    expect(half.closedByPeer).toBe(true);
    expect(upstream.received.size).toBe(before);
  });

  it('counts SSH connections toward the per-IP cap: 50 parallel from one address, at most 10 held', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 50 }, () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ port: edge.port, host: '127.0.0.1', localAddress: '127.0.0.3' });
          s.on('error', () => {});
          s.once('connect', () => {
            s.write('SSH-2.0-flood\r\n');
            resolve(s);
          });
        }),
      ),
    );
    // Refused ones are destroyed by the edge; the held ones stay piped.
    await waitFor(() => sockets.filter((s) => !s.destroyed && !s.closed).length <= 10, 'the edge to refuse the excess', 5_000);
    const held = sockets.filter((s) => !s.destroyed && !s.closed).length;
    expect(held).toBe(10);
    // While they are held, this address gets no HTTPS connection either.
    const refused = await exchange(edge.port, null, { localAddress: '127.0.0.3' });
    expect(refused.closedByPeer).toBe(true);
    sockets.forEach((s) => s.destroy());
    // Another address is unaffected.
    expect((await healthz(edge.port)).status).toBe(200);
    expect(logs.lines.some((l) => l.msg === 'connection refused: per-IP connection cap' && l.fields?.ip === '127.0.0.3')).toBe(true);
  });
});

describe('the SSH rate limit', () => {
  it('refuses new SSH connections past EDGE_LIMIT_SSH_PER_MIN per address, HTTPS unaffected', async () => {
    const limitedPrefix = uniquePrefix();
    const env = {
      EDGE_TLS_CERT: path.join(dir, 'edge-cert.pem'),
      EDGE_TLS_KEY: path.join(dir, 'edge-key.pem'),
      REDIS_URL,
      EDGE_REDIS_PREFIX: limitedPrefix,
      EDGE_SSH_UPSTREAM: `127.0.0.1:${upstream.port}`,
      EDGE_LIMIT_SSH_PER_MIN: '3',
    };
    const cert = await ensureSelfSignedCert(dir);
    Object.assign(env, { EDGE_TLS_CERT: cert.certPath, EDGE_TLS_KEY: cert.keyPath });
    const limited = await startEdge(testConfig(env), { logger: captureLogger(), sshDemux: loadSshDemuxConfig(env) });
    try {
      const outcomes: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        const s = net.connect({ port: limited.port, host: '127.0.0.1', localAddress: '127.0.0.4' });
        s.on('error', () => {});
        await new Promise((r) => s.once('connect', r));
        s.write('SSH-2.0-x\r\nping');
        const answered = await new Promise<boolean>((r) => {
          s.once('data', () => r(true));
          s.once('close', () => r(false));
        });
        outcomes.push(answered);
        s.destroy();
      }
      expect(outcomes).toEqual([true, true, true, false, false]);
      expect((await healthz(limited.port)).status).toBe(200);
    } finally {
      await limited.close();
      await deletePrefix(REDIS_URL, limitedPrefix);
    }
  });

  it('with TLS off (a terminator in front), hands plain HTTP to the HTTP server and still pipes SSH', async () => {
    const env = { REDIS_URL, EDGE_REDIS_PREFIX: uniquePrefix(), EDGE_SSH_UPSTREAM: `127.0.0.1:${upstream.port}` };
    const plain = await startEdge(testConfig(env), { logger: captureLogger(), sshDemux: loadSshDemuxConfig(env) });
    try {
      const res = await fetch(`http://127.0.0.1:${plain.port}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
      const s = net.connect({ port: plain.port, host: '127.0.0.1' });
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      s.write('SSH-2.0-x\r\nping');
      expect((await new Promise<Buffer>((r) => s.once('data', r))).toString()).toBe('pong');
      s.destroy();
    } finally {
      await plain.close();
      await deletePrefix(REDIS_URL, env.EDGE_REDIS_PREFIX);
    }
  });

  it('refuses a malformed EDGE_SSH_UPSTREAM at startup', () => {
    expect(() => loadSshDemuxConfig({ EDGE_SSH_UPSTREAM: 'nope' })).toThrow(/EDGE_SSH_UPSTREAM/);
    expect(() => loadSshDemuxConfig({ EDGE_SSH_UPSTREAM: 'h:99999' })).toThrow(/port/);
    expect(() => loadSshDemuxConfig({ EDGE_SSH_UPSTREAM: 'h:22', EDGE_LIMIT_SSH_PER_MIN: '0' })).toThrow(/EDGE_LIMIT_SSH_PER_MIN/);
    expect(loadSshDemuxConfig({})).toBeNull();
  });
});
