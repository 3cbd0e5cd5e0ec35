/**
 * Issue 18 #2 and #12: the SSH book's rules (rate per identity, global
 * pre-auth cap, who gets a slot when it is full), run as one table of cases
 * against both executors: the in-process LocalBook (also what the cluster
 * primary runs) and the Redis script, on a real Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeKeys } from '@airlock/lockouts';
import { throttleIdentities } from '@airlock/net';
import { LocalBook, type BookRules, type SshBook } from './ssh/book.ts';
import { RedisBook } from './ssh/redis-book.ts';
import { createRules } from './throttle/plan.ts';
import { testConfig } from './testing/harness.ts';
import { deletePrefix, REDIS_URL, sleep, uniquePrefix } from '@airlock/testing';

let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});

afterAll(async () => {
  for (const p of prefixes) await deletePrefix(REDIS_URL, p);
  redis.disconnect();
});

interface Shape {
  cap: number;
  perMin?: number;
  leaseMs?: number;
}

const rulesFor = (prefix: string, s: Shape): BookRules => {
  const config = testConfig({ EDGE_REDIS_PREFIX: prefix });
  const rules = createRules(config.limits, edgeKeys(prefix));
  return {
    plan: (ids) => rules.ssh(ids, s.perMin ?? 1_000),
    // Default factors: an IPv6 /56 weighs a quarter, a /48 a sixteenth, as its budgets scale.
    preauth: { cap: s.cap, leaseMs: s.leaseMs ?? 60_000, factor56: config.limits.ipv6Factor56, factor48: config.limits.ipv6Factor48 },
  };
};

const books: Array<[string, (s: Shape) => SshBook]> = [
  ['in process', (s) => new LocalBook(rulesFor('airlock:test:local:', s))],
  [
    'in Redis',
    (s) => {
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      return new RedisBook(redis, edgeKeys(prefix).sshPreauth, rulesFor(prefix, s));
    },
  ],
];

/** Takes a slot for each [conn, address]; returns the verdicts in order. */
const takeAll = async (book: SshBook, conns: Array<[string, string]>) => {
  const out = [];
  for (const [conn, ip] of conns) out.push(await book.admit(conn, throttleIdentities(ip)));
  return out;
};

const ok = (evicted: string | null = null) => ({ ok: true, evicted });
const CAP = { ok: false, reason: 'cap', retryAfterSeconds: 1 };

describe.each(books)('the SSH book %s', (_name, make) => {
  it('holds at most the cap, then refuses a newcomer whose identity would be as heavy as the heaviest', async () => {
    const book = make({ cap: 4 });
    const got = await takeAll(book, [
      ['c01', '198.51.100.1'],
      ['c02', '198.51.100.2'],
      ['c03', '198.51.100.3'],
      ['c04', '198.51.100.4'],
      ['c05', '198.51.100.5'],
    ]);
    expect(got).toEqual([ok(), ok(), ok(), ok(), CAP]);
  });

  it('when full, lets a lighter identity in by evicting the oldest connection of the heaviest, and never evicts back', async () => {
    const book = make({ cap: 6 });
    await takeAll(book, [
      ['c01', '198.51.100.1'],
      ['c02', '198.51.100.1'],
      ['c03', '198.51.100.2'],
      ['c04', '198.51.100.1'],
      ['c05', '198.51.100.2'],
      ['c06', '198.51.100.3'],
    ]);
    // .1 holds 3, .2 holds 2, .3 holds 1. A newcomer from .4 takes the oldest of .1's.
    expect(await book.admit('c07', ['198.51.100.4'])).toEqual(ok('c01'));
    // .1 (now 2) may not come back at the expense of anyone: it would be as heavy as the heaviest.
    expect(await book.admit('c08', ['198.51.100.1'])).toEqual(CAP);
    expect(await book.admit('c09', ['198.51.100.2'])).toEqual(CAP);
    // .1 and .2 tie at 2; the tie goes to the smaller identity string, as in both executors.
    expect(await book.admit('c10', ['198.51.100.5'])).toEqual(ok('c02'));
    expect(await book.admit('c11', ['198.51.100.6'])).toEqual(ok('c03'));
  });

  it('keeps an agent getting in past a flood of 12 addresses x 4 filling a cap of 48 (the finding)', async () => {
    const book = make({ cap: 48 });
    const flood: Array<[string, string]> = [];
    for (let i = 0; i < 48; i += 1) flood.push([`f${String(i).padStart(2, '0')}`, `127.0.0.${2 + (i % 12)}`]);
    expect((await takeAll(book, flood)).every((v) => v.ok)).toBe(true);
    // The flood cannot grow: every address is as heavy as the heaviest.
    expect(await book.admit('f48', ['127.0.0.2'])).toEqual(CAP);
    const agent = await book.admit('agent-1', ['127.0.0.100']);
    expect(agent).toMatchObject({ ok: true });
    expect(agent.ok && agent.evicted?.startsWith('f')).toBe(true);
    // A second login from the same agent address still weighs less than the flood's 4.
    expect(await book.admit('agent-2', ['127.0.0.100'])).toMatchObject({ ok: true });
  });

  it('weighs an IPv6 /48 spread over many /64s as one holder, sixteen /64s worth', async () => {
    const book = make({ cap: 48 });
    // 48 connections from 48 /64s in 48 different /56s of one /48: each /64 holds 1, the /48 holds 48 (weight 3).
    const spread: Array<[string, string]> = [];
    for (let i = 0; i < 48; i += 1) spread.push([`v${String(i).padStart(2, '0')}`, `2001:db8:7:${(i * 256).toString(16)}::1`]);
    expect((await takeAll(book, spread)).every((v) => v.ok)).toBe(true);
    // Yet another /64 of that /48 is refused; an IPv4 client, and a /64 of another /48, evict the /48's oldest.
    expect(await book.admit('v48', throttleIdentities('2001:db8:7:ff01::1'))).toEqual(CAP);
    expect(await book.admit('ipv4', throttleIdentities('198.51.100.9'))).toEqual(ok('v00'));
    expect(await book.admit('other48', throttleIdentities('2001:db8:8:1::1'))).toEqual(ok('v01'));
  });

  it('limits new SSH connections per identity per minute, the /56 at EDGE_IPV6_56_FACTOR times the /64 budget', async () => {
    const book = make({ cap: 100, perMin: 3 });
    const v4 = await takeAll(book, [
      ['r1', '203.0.113.7'],
      ['r2', '203.0.113.7'],
      ['r3', '203.0.113.7'],
      ['r4', '203.0.113.7'],
    ]);
    expect(v4.map((v) => (v.ok ? 'ok' : v.reason))).toEqual(['ok', 'ok', 'ok', 'rate']);
    const refused = v4[3];
    expect(refused?.ok === false && refused.retryAfterSeconds).toBeGreaterThan(0);
    // Thirteen /64s in one /56 (budget 3 x 4 = 12), one connection each: the 13th is refused by the /56.
    const six: Array<[string, string]> = [];
    for (let i = 0; i < 13; i += 1) six.push([`s${String(i).padStart(2, '0')}`, `2001:db8:9:${(0x1200 + i).toString(16)}::1`]);
    const v6 = await takeAll(book, six);
    expect(v6.map((v) => (v.ok ? 'ok' : v.reason))).toEqual([...Array<string>(12).fill('ok'), 'rate']);
  });

  it('gives a slot back on release (twice is harmless) and when its lease lapses', async () => {
    const book = make({ cap: 2, leaseMs: 300 });
    expect(await takeAll(book, [['l1', '192.0.2.1'], ['l2', '192.0.2.2'], ['l3', '192.0.2.3']])).toEqual([ok(), ok(), CAP]);
    await book.release('l1');
    await book.release('l1');
    await book.release('never-taken');
    expect(await book.admit('l4', ['192.0.2.4'])).toEqual(ok());
    expect(await book.admit('l5', ['192.0.2.5'])).toEqual(CAP);
    // A holder that died never releases: its lease ends and the slots come back.
    await sleep(500);
    expect(await takeAll(book, [['l6', '192.0.2.6'], ['l7', '192.0.2.7']])).toEqual([ok(), ok()]);
  });
});

describe('the SSH book in Redis', () => {
  it('announces an eviction on the channel, for the process holding the connection, and leaves no keys behind', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const keys = edgeKeys(prefix).sshPreauth;
    const book = new RedisBook(redis, keys, rulesFor(prefix, { cap: 2, leaseMs: 400 }));
    const sub = redis.duplicate();
    const heard: string[] = [];
    sub.on('message', (_c: string, m: string) => heard.push(m));
    await sub.subscribe(keys.evicted);
    try {
      await takeAll(book, [['e1', '192.0.2.1'], ['e2', '192.0.2.1']]);
      expect(await book.admit('e3', ['192.0.2.2'])).toEqual(ok('e1'));
      await expect.poll(() => heard).toEqual(['e1']);
      expect(await book.missing(['e1', 'e2', 'e3'])).toEqual(['e1']);
      // Every key carries an expiry one lease past the last entry: nothing outlives the ledger.
      for (const k of [keys.held, keys.ids, keys.counts]) expect(await redis.pttl(k)).toBeGreaterThan(0);
      await sleep(1_600);
      expect(await redis.exists(keys.held, keys.ids, keys.counts)).toBe(0);
    } finally {
      sub.disconnect();
    }
  });
});
