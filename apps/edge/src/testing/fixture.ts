/**
 * The setup most edge tests share: a recording upstream standing in for the
 * api, a Redis client for looking at the counters, and `edgeWith(env)`, a
 * fresh edge on its own Redis prefix (so per-IP state never leaks between
 * tests), closed after each test; its keys are deleted after the file.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { deletePrefix, type RecordingUpstream, REDIS_URL, type RedisServer, startRecordingUpstream, startRedisServer, uniquePrefix } from '@airlock/testing';
import { startTestEdge } from './harness.ts';

type TestEdge = Awaited<ReturnType<typeof startTestEdge>>;

export interface EdgeFixture {
  readonly upstream: RecordingUpstream;
  /** Opened on first use. */
  readonly redis: Redis;
  edgeWith(env?: Record<string, string>): Promise<TestEdge & { prefix: string }>;
  /** An edge a test started itself, closed after the test like edgeWith's. */
  track(edge: TestEdge): TestEdge;
}

export const useEdgeFixture = (): EdgeFixture => {
  let upstream: RecordingUpstream | undefined;
  let redis: Redis | undefined;
  const started: TestEdge[] = [];
  const prefixes: string[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((e) => e.close()));
    if (upstream) {
      upstream.requests.length = 0;
      upstream.respond(200);
    }
  });
  afterAll(async () => {
    await upstream?.close();
    for (const p of prefixes) await deletePrefix(REDIS_URL, p);
    redis?.disconnect();
  });

  const fixture: EdgeFixture = {
    get upstream() {
      if (!upstream) throw new Error('the recording upstream starts in beforeAll');
      return upstream;
    },
    get redis() {
      redis ??= new Redis(REDIS_URL);
      return redis;
    },
    edgeWith: async (env = {}) => {
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      const edge = await startTestEdge({ EDGE_UPSTREAM: fixture.upstream.url, REDIS_URL, EDGE_REDIS_PREFIX: prefix, ...env });
      started.push(edge);
      return { ...edge, prefix };
    },
    track: (edge) => {
      started.push(edge);
      return edge;
    },
  };
  return fixture;
};

export interface PrivateRedisFixture {
  readonly upstream: RecordingUpstream;
  /** A redis-server of this file's own, so its command counts are the edges' alone. */
  readonly redisServer: RedisServer;
  /** A client of that server, for INFO commandstats. */
  readonly probe: Redis;
}

/** For tests that count Redis round trips: a recording upstream and a private redis-server, for the whole file. */
export const usePrivateRedisFixture = (): PrivateRedisFixture => {
  let upstream: RecordingUpstream | undefined;
  let redisServer: RedisServer | undefined;
  let probe: Redis | undefined;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    redisServer = await startRedisServer();
    probe = new Redis(redisServer.url);
  });
  afterAll(async () => {
    probe?.disconnect();
    await redisServer?.stop();
    await upstream?.close();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the fixture starts in beforeAll');
    return v;
  };
  return {
    get upstream() {
      return started(upstream);
    },
    get redisServer() {
      return started(redisServer);
    },
    get probe() {
      return started(probe);
    },
  };
};
