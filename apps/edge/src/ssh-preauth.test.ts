/**
 * Issue 18 #2 at the demux, in one process: the global pre-auth cap, the
 * fairness rule when it is full, the pre-auth window and the idle timeout,
 * against a real edge (TLS on, real sockets, real Redis) in front of a TCP
 * upstream standing in for sshd. The flood against a real sshd is
 * test/tunnel/preauth-flood.test.ts; several workers: ssh-preauth.cluster.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PREAUTH, loadSshDemuxConfig } from './ssh/config.ts';
import { startEdge, type RunningEdge } from './server.ts';
import { captureLogger, testConfig } from './testing/harness.ts';
import { deletePrefix, REDIS_URL, sleep, uniquePrefix, waitFor } from '@airlock/testing';
import { ensureSelfSignedCert } from '@airlock/crypto';

interface Upstream {
  port: number;
  /** Tags seen (the bytes after the greeting), and whether that upstream socket is still open. */
  tags: Map<string, { open: boolean }>;
  server: net.Server;
}

/** Stands in for sshd: notes each connection's tag, answers "ping" with "pong". */
const startUpstream = async (): Promise<Upstream> => {
  const tags = new Map<string, { open: boolean }>();
  const server = net.createServer((s) => {
    let seen = '';
    let tag: string | null = null;
    s.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      const m = /tag-(\w+);/.exec(seen);
      if (tag === null && m?.[1] !== undefined) {
        tag = m[1];
        tags.set(tag, { open: true });
      }
      if (d.includes('ping')) s.write('pong');
    });
    s.on('close', () => {
      if (tag !== null) tags.set(tag, { open: false });
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, tags, server };
};

interface Client {
  socket: net.Socket;
  closed: Promise<void>;
  isClosed: () => boolean;
  ping: () => Promise<boolean>;
}

/** An SSH client that sends its greeting and a tag, from the given loopback address. */
const sshClient = async (port: number, from: string, tag: string): Promise<Client> => {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => {});
  let closed = false;
  const done = new Promise<void>((r) => socket.once('close', () => r()));
  void done.then(() => (closed = true));
  await new Promise((r) => socket.once('connect', r));
  socket.write(`SSH-2.0-test\r\ntag-${tag};`);
  return {
    socket,
    closed: done,
    isClosed: () => closed,
    ping: () =>
      new Promise<boolean>((resolve) => {
        if (closed) return resolve(false);
        socket.once('data', (d: Buffer) => resolve(d.toString().includes('pong')));
        socket.once('close', () => resolve(false));
        socket.write('ping');
      }),
  };
};

let upstream: Upstream;
let dir: string;
let cert: { certPath: string; keyPath: string };
const edges: RunningEdge[] = [];
const clients: Client[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-preauth-'));
  cert = await ensureSelfSignedCert(dir);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(edges.splice(0).map((e) => e.close()));
});

afterAll(async () => {
  upstream.server.close();
  for (const p of prefixes) await deletePrefix(REDIS_URL, p);
  rmSync(dir, { recursive: true, force: true });
});

const edgeWith = async (env: Record<string, string>, shared: 'redis' | 'process' = 'redis') => {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const full = {
    EDGE_TLS_CERT: cert.certPath,
    EDGE_TLS_KEY: cert.keyPath,
    ...(shared === 'redis' ? { REDIS_URL } : {}),
    EDGE_REDIS_PREFIX: prefix,
    EDGE_SSH_UPSTREAM: `127.0.0.1:${upstream.port}`,
    EDGE_LIMIT_SSH_PER_MIN: '1000',
    ...env,
  };
  const logs = captureLogger();
  const edge = await startEdge(testConfig(full), { logger: logs, sshDemux: loadSshDemuxConfig(full) });
  edges.push(edge);
  return { ...edge, logs: logs.lines };
};

/** Connects and waits until the upstream saw the tag (piped) or the edge closed the client (refused). */
const connect = async (port: number, from: string, tag: string): Promise<Client & { piped: boolean }> => {
  const c = await sshClient(port, from, tag);
  clients.push(c);
  await waitFor(() => upstream.tags.has(tag) || c.isClosed(), `ssh ${tag} to be piped or refused`);
  return { ...c, piped: upstream.tags.has(tag) };
};

let n = 0;
const tag = (name: string) => `${name}${(n += 1)}`;

describe('the pre-auth cap at the demux', () => {
  it.each(['redis', 'process'] as const)('holds at most EDGE_SSH_MAX_PREAUTH and, when full, evicts the oldest of the heaviest address for a lighter one (book: %s)', async (shared) => {
    const edge = await edgeWith({ EDGE_SSH_MAX_PREAUTH: '4' }, shared);
    expect(edge.logs.find((l) => l.msg === 'ssh demux on')?.fields['shared_by']).toBe(shared);
    const [a1, a2, b1, b2] = [tag('a'), tag('a'), tag('b'), tag('b')];
    const held = [
      await connect(edge.port, '127.0.0.21', a1),
      await connect(edge.port, '127.0.0.21', a2),
      await connect(edge.port, '127.0.0.22', b1),
      await connect(edge.port, '127.0.0.22', b2),
    ];
    expect(held.map((c) => c.piped)).toEqual([true, true, true, true]);
    // Full: another one from a holder would weigh 3, more than the heaviest (2): refused, never piped.
    const more = await connect(edge.port, '127.0.0.22', tag('b'));
    expect(more.piped).toBe(false);
    expect(edge.logs.some((l) => l.msg === 'ssh connection refused: pre-auth cap' && l.fields['ip'] === '127.0.0.22')).toBe(true);
    // A newcomer from an address holding nothing gets in; .21 and .22 tie, the smaller one loses its oldest.
    const c = tag('c');
    const newcomer = await connect(edge.port, '127.0.0.23', c);
    expect(newcomer.piped).toBe(true);
    await held[0]?.closed;
    await waitFor(() => upstream.tags.get(a1)?.open === false, 'the evicted pipe to close upstream too');
    expect([a2, b1, b2, c].map((t) => upstream.tags.get(t)?.open)).toEqual([true, true, true, true]);
    expect(await held[1]?.ping()).toBe(true);
    expect(edge.logs.some((l) => l.msg === 'ssh pre-auth connection closed: evicted for a client holding fewer slots' && l.fields['ip'] === '127.0.0.21')).toBe(true);
  });

  it('stops counting a connection after EDGE_SSH_PREAUTH_SECONDS: it stays piped, and its slot goes to the next', async () => {
    const edge = await edgeWith({ EDGE_SSH_MAX_PREAUTH: '1', EDGE_SSH_PREAUTH_SECONDS: '2', EDGE_SSH_PREAUTH_IDLE_SECONDS: '2' });
    const first = await connect(edge.port, '127.0.0.31', tag('w'));
    expect(first.piped).toBe(true);
    // Chatty through its window, so the idle timeout has no say.
    const chat = setInterval(() => first.socket.write('.'), 200);
    try {
      expect((await connect(edge.port, '127.0.0.32', tag('x'))).piped).toBe(false);
      // Once the window is over, another client gets the one slot while the first stays up.
      const next = await waitFor(async () => {
        const c = await connect(edge.port, '127.0.0.32', tag('x'));
        return c.piped ? c : null;
      }, 'the slot to come back after the window', 10_000);
      expect(next.piped).toBe(true);
      expect(first.isClosed()).toBe(false);
    } finally {
      clearInterval(chat);
    }
    // Past its window the first connection is logged in as far as the demux knows: silence no longer closes it.
    await sleep(3_000);
    expect(first.isClosed()).toBe(false);
    expect(await first.ping()).toBe(true);
  });

  it('closes a client silent for EDGE_SSH_PREAUTH_IDLE_SECONDS inside the window, not one that keeps talking, and frees its slot', async () => {
    const edge = await edgeWith({ EDGE_SSH_MAX_PREAUTH: '2', EDGE_SSH_PREAUTH_SECONDS: '60', EDGE_SSH_PREAUTH_IDLE_SECONDS: '1' });
    const silent = await connect(edge.port, '127.0.0.41', tag('s'));
    const talker = await connect(edge.port, '127.0.0.42', tag('t'));
    const chat = setInterval(() => talker.socket.write('.'), 100);
    try {
      expect([silent.piped, talker.piped]).toEqual([true, true]);
      await silent.closed;
      expect(talker.isClosed()).toBe(false);
      expect(edge.logs.some((l) => l.msg === 'ssh pre-auth connection closed: idle' && l.fields['ip'] === '127.0.0.41')).toBe(true);
      // The slot is free again: a third client is piped without evicting the talker.
      const third = await connect(edge.port, '127.0.0.43', tag('u'));
      expect(third.piped).toBe(true);
      await sleep(1_500);
      expect(talker.isClosed()).toBe(false);
      expect(await talker.ping()).toBe(true);
    } finally {
      clearInterval(chat);
    }
  });
});

describe('EDGE_SSH_* settings', () => {
  it('defaults to a cap of 48, a 20 s window and a 10 s idle timeout', () => {
    expect(loadSshDemuxConfig({ EDGE_SSH_UPSTREAM: '127.0.0.1:2222' })).toEqual({
      upstream: { host: '127.0.0.1', port: 2222 },
      sshPerMin: 30,
      maxPreauth: DEFAULT_MAX_PREAUTH,
      preauthMs: 20_000,
      preauthIdleMs: 10_000,
    });
    expect(DEFAULT_MAX_PREAUTH).toBe(48);
  });

  it('refuses a cap that reaches the tunnel MaxStartups, and an idle timeout longer than the window', () => {
    const up = { EDGE_SSH_UPSTREAM: '127.0.0.1:2222' };
    expect(() => loadSshDemuxConfig({ ...up, EDGE_SSH_MAX_PREAUTH: '64' })).toThrow(/EDGE_SSH_MAX_PREAUTH: must stay below the tunnel's MaxStartups \(64\)/);
    expect(() => loadSshDemuxConfig({ ...up, EDGE_SSH_MAX_PREAUTH: '0' })).toThrow(/EDGE_SSH_MAX_PREAUTH: must be at least 1/);
    expect(() => loadSshDemuxConfig({ ...up, EDGE_SSH_MAX_PREAUTH: 'lots' })).toThrow(/whole number/);
    expect(() => loadSshDemuxConfig({ ...up, EDGE_SSH_PREAUTH_SECONDS: '5', EDGE_SSH_PREAUTH_IDLE_SECONDS: '6' })).toThrow(/EDGE_SSH_PREAUTH_IDLE_SECONDS must not exceed/);
    expect(loadSshDemuxConfig({ ...up, EDGE_SSH_MAX_PREAUTH: '63' })?.maxPreauth).toBe(63);
  });
});
