/**
 * Issue 18 #2 / #12: with EDGE_WORKERS=2 the pre-auth cap is one cap for the
 * host, not one per worker, shared through Redis or (without Redis) through
 * the cluster primary; and an eviction reaches the worker that holds the
 * evicted connection. A real edge process (main.ts, two workers) in front of
 * a TCP upstream standing in for sshd.
 */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, type EdgeProcess, REDIS_URL, spawnEdge, stopProcess, uniquePrefix, waitFor } from '@airlock/testing';

const CAP = 9;

interface Upstream {
  port: number;
  open: Set<net.Socket>;
  server: net.Server;
}

const startUpstream = async (): Promise<Upstream> => {
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => {
    open.add(s);
    // Read (and drop) what comes, so the edge's FIN is seen and the socket closes.
    s.resume();
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, open, server };
};

interface Client {
  socket: net.Socket;
  port: number;
  closed: () => boolean;
}

describe.each(['redis', 'primary'] as const)('EDGE_WORKERS=2, pre-auth cap shared through the %s', (mode) => {
  let upstream: Upstream;
  let edge: EdgeProcess;
  const prefix = uniquePrefix();
  const clients: Client[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    edge = await spawnEdge(
      {
        ...(mode === 'redis' ? { REDIS_URL } : {}),
        EDGE_REDIS_PREFIX: prefix,
        EDGE_WORKERS: '2',
        EDGE_SSH_UPSTREAM: `127.0.0.1:${upstream.port}`,
        EDGE_SSH_MAX_PREAUTH: String(CAP),
        EDGE_SSH_PREAUTH_SECONDS: '120',
        EDGE_SSH_PREAUTH_IDLE_SECONDS: '120',
        EDGE_LIMIT_SSH_PER_MIN: '1000',
      },
      { startMs: 90_000 },
    );
    // Each worker loads the TypeScript sources itself: slow on a busy machine.
    await waitFor(() => edge.lines.filter((l) => l['msg'] === 'edge listening').length === 2, 'both workers to listen', 90_000);
    expect(edge.lines.filter((l) => l['msg'] === 'ssh demux on').map((l) => l['shared_by'])).toEqual([mode, mode]);
  }, 200_000);

  afterAll(async () => {
    for (const c of clients) c.socket.destroy();
    await stopProcess(edge);
    upstream.server.close();
    await deletePrefix(REDIS_URL, prefix);
  });

  /** An SSH greeting from `from`; resolves once the edge piped it (a line says so) or closed it. */
  const connect = async (from: string): Promise<Client & { piped: boolean }> => {
    const socket = net.connect({ port: edge.port, host: '127.0.0.1', localAddress: from });
    socket.on('error', () => {});
    let closed = false;
    socket.once('close', () => (closed = true));
    await new Promise((r) => socket.once('connect', r));
    const port = socket.localPort ?? 0;
    socket.write('SSH-2.0-test\r\n');
    const c = { socket, port, closed: () => closed };
    clients.push(c);
    const pipedLine = () => edge.lines.some((l) => l['msg'] === 'ssh connection piped' && l['port'] === port);
    await waitFor(() => pipedLine() || closed, `ssh from ${from}:${port} to be piped or refused`);
    return { ...c, piped: pipedLine() && !closed };
  };
  const workerOf = (msg: string, port: number) => edge.lines.find((l) => l['msg'] === msg && l['port'] === port)?.['worker'];

  it(`holds ${CAP} pre-auth connections for both workers together, not ${CAP} each`, async () => {
    const got: boolean[] = [];
    for (let i = 1; i <= 2 * CAP; i += 1) got.push((await connect(`127.0.1.${i}`)).piped);
    expect(got.filter(Boolean)).toHaveLength(CAP);
    await waitFor(() => upstream.open.size === CAP, 'the upstream to hold the piped ones');
    // Both workers piped and both refused: the cap held across them, not inside one.
    const by = (msg: string) => new Set(edge.lines.filter((l) => l['msg'] === msg).map((l) => l['worker']));
    expect(by('ssh connection piped')).toEqual(new Set([1, 2]));
    expect(by('ssh connection refused: pre-auth cap')).toEqual(new Set([1, 2]));
    for (const c of clients.splice(0)) c.socket.destroy();
    // Closing gives the slots back to the shared book.
    await waitFor(() => upstream.open.size === 0, 'the pipes to close');
    await waitFor(async () => (await connect('127.0.1.200')).piped, 'a slot after the close');
    for (const c of clients.splice(0)) c.socket.destroy();
    await waitFor(() => upstream.open.size === 0, 'the pipes to close');
  }, 60_000);

  it('evicts across workers: a lighter newcomer closes the heaviest address’s oldest connection, whichever worker holds it', async () => {
    const heavy: Client[] = [];
    for (let i = 0; i < CAP; i += 1) {
      const c = await connect('127.0.2.1');
      expect(c.piped).toBe(true);
      heavy.push(c);
    }
    let crossed = 0;
    for (let i = 1; i <= CAP - 2 && crossed === 0; i += 1) {
      const oldest = heavy.shift();
      if (oldest === undefined) break;
      const newcomer = await connect(`127.0.3.${i}`);
      expect(newcomer.piped).toBe(true);
      await waitFor(() => oldest.closed(), 'the oldest of the heavy address to be closed');
      expect(heavy.every((c) => !c.closed())).toBe(true);
      await waitFor(() => upstream.open.size === CAP, 'the upstream back at the cap');
      const evictedBy = await waitFor(() => workerOf('ssh pre-auth connection closed: evicted for a client holding fewer slots', oldest.port), 'the eviction line');
      if (evictedBy !== workerOf('ssh connection piped', newcomer.port)) crossed += 1;
    }
    // Round-robin hands consecutive connections to alternate workers, so an eviction crossed between them.
    expect(crossed).toBe(1);
    expect(upstream.open.size).toBe(CAP);
  }, 60_000);
});
