/**
 * The race that ended ioredis Sentinel clients for good (see
 * `restartWhenEnded` in redis.ts), provoked on purpose rather than waited
 * for: a stand-in sentinel on a real socket holds its answer to
 * `SENTINEL get-master-addr-by-name` while it announces `+switch-master` to
 * the client's failover detector, exactly the order of events when a primary
 * dies and its replica is promoted. The primary is the real Redis on
 * 127.0.0.1:6379; its server kills the client's connection as a dying primary
 * would. (The full failover with real redis-sentinel processes is the chaos
 * suite's sentinel.test.ts; there this race shows up only now and then.)
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisClient, SENTINEL_RESTART_MS } from './redis.ts';

const PRIMARY = { host: '127.0.0.1', port: 6379 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const waitFor = async (check: () => boolean, what: string, ms = 10_000) => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const array = (items: string[]) => `*${items.length}\r\n${items.map(bulk).join('')}`;

/** Reads RESP command arrays (what a client sends) off a byte stream. */
const commands = (onCommand: (args: string[]) => void) => {
  let buf = '';
  return (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (;;) {
      const lines = buf.split('\r\n');
      const n = Number(lines[0]?.slice(1));
      if (!lines[0]?.startsWith('*') || lines.length < 1 + 2 * n) return;
      const args = Array.from({ length: n }, (_, i) => lines[2 + 2 * i] ?? '');
      buf = lines.slice(1 + 2 * n).join('\r\n');
      onCommand(args);
    }
  };
};

interface StandInSentinel {
  port: number;
  /** Sockets whose client subscribed to +switch-master (the failover detector). */
  detectors: Set<Socket>;
  resolves: number;
  /** When set, the next resolve waits for this before answering. */
  hold: ((answer: () => void) => void) | null;
  close: () => Promise<void>;
}

const startStandInSentinel = async (): Promise<StandInSentinel> => {
  const sockets = new Set<Socket>();
  const state: StandInSentinel = { port: 0, detectors: new Set(), resolves: 0, hold: null, close: async () => undefined };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on(
      'data',
      commands((args) => {
        const [cmd = '', sub = ''] = args.map((a) => a.toLowerCase());
        if (cmd === 'sentinel' && sub === 'get-master-addr-by-name') {
          state.resolves += 1;
          const answer = () => socket.write(array([PRIMARY.host, String(PRIMARY.port)]));
          const hold = state.hold;
          state.hold = null;
          if (hold) hold(answer);
          else answer();
        } else if (cmd === 'sentinel') {
          socket.write('*0\r\n'); // SENTINEL sentinels: no others to learn
        } else if (cmd === 'subscribe') {
          state.detectors.add(socket);
          socket.write(`*3\r\n${bulk('subscribe')}${bulk(args[1] ?? '')}:1\r\n`);
        } else {
          socket.write('+OK\r\n');
        }
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as { port: number }).port;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** A stand-in sentinel and a client of it, both closed after the test. */
const sentinelAndClient = async () => {
  const sentinel = await startStandInSentinel();
  cleanup.push(sentinel.close);
  const client = createRedisClient(
    { kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'airlock' },
    { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 },
  );
  client.on('error', () => undefined);
  cleanup.push(() => client.disconnect());
  return { sentinel, client };
};

/** The next resolve waits while the sentinel announces the switch, as in a failover. */
const announceSwitchBeforeNextAnswer = (sentinel: StandInSentinel) => {
  sentinel.hold = (answer) => {
    for (const d of sentinel.detectors) d.write(`*3\r\n${bulk('message')}${bulk('+switch-master')}${bulk('airlock 127.0.0.1 1 127.0.0.1 6379')}`);
    setTimeout(answer, 100);
  };
};

/** The primary drops a client's connection, as a dying primary would. */
const dropConnection = async (client: Redis) => {
  const killer = new Redis(PRIMARY.port, PRIMARY.host);
  cleanup.push(() => killer.disconnect());
  await killer.client('KILL', 'ID', String(await client.client('ID')));
};

describe('a Sentinel client across a failover', () => {
  it('connects again when +switch-master lands while it asks a sentinel for the primary, and stays closed when its owner closes it', async () => {
    const { sentinel, client } = await sentinelAndClient();
    let ended = 0;
    client.on('end', () => (ended += 1));
    await waitFor(() => client.status === 'ready' && sentinel.detectors.size > 0, 'the client and its failover detector');
    expect(await client.ping()).toBe('PONG');

    // The primary drops the connection; the reconnect asks the sentinel, which
    // announces the switch before it answers.
    announceSwitchBeforeNextAnswer(sentinel);
    const resolvesBefore = sentinel.resolves;
    await dropConnection(client);

    // ioredis itself gives up here (status "end")…
    await waitFor(() => ended > 0, 'ioredis to end the client');
    expect(sentinel.resolves).toBeGreaterThan(resolvesBefore);
    // …and the client is started again, on its own.
    await waitFor(() => client.status === 'ready', 'the client to connect again', 5 * SENTINEL_RESTART_MS);
    expect(await client.ping()).toBe('PONG');

    // Its owner's close is final.
    const endedBefore = ended;
    client.disconnect();
    await waitFor(() => ended > endedBefore, 'the owner close to end it');
    await sleep(2 * SENTINEL_RESTART_MS);
    expect(client.status).toBe('end');
  });

  it('gives a duplicate (the edge subscribes through one) the same care', async () => {
    const { sentinel, client } = await sentinelAndClient();
    const dup = client.duplicate();
    dup.on('error', () => undefined);
    cleanup.push(() => dup.disconnect());
    await waitFor(() => dup.status === 'ready' && client.status === 'ready' && sentinel.detectors.size >= 2, 'both clients');
    announceSwitchBeforeNextAnswer(sentinel);
    let ended = false;
    dup.on('end', () => (ended = true));
    await dropConnection(dup);
    await waitFor(() => ended, 'ioredis to end the duplicate');
    await waitFor(() => dup.status === 'ready', 'the duplicate to connect again', 5 * SENTINEL_RESTART_MS);
    expect(await dup.ping()).toBe('PONG');
  });
});
