/**
 * Issue #8, edge side: each test performs the attack against a real edge
 * (real sockets, real Redis, a recording upstream) and fails on the edge as
 * it was before the fix.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listLockouts } from '@airlock/lockouts';
import { ensureSelfSignedCert } from '@airlock/crypto';
import { useEdgeFixture } from './testing/fixture.ts';
import { startTestEdge } from './testing/harness.ts';
import { enrollWithCode, enrollWithKey, metricValue, send, startRedisServer, uniquePrefix, waitFor } from '@airlock/testing';

const fx = useEdgeFixture();
const { edgeWith } = fx;

const enroll = (port: number, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  send(port, 'POST', '/api/v1/enroll', { body, headers });

const poll = (port: number, token = 'bogus') =>
  send(port, 'GET', '/api/v1/enroll/status', { headers: { authorization: `Bearer ${token}` } });

describe('#8.1 enroll floods with rotating site codes', () => {
  it('does not give a junk enrollment_key a fresh bucket per site_code', async () => {
    const edge = await edgeWith();
    fx.upstream.respond(400);
    const statuses: number[] = [];
    for (let n = 0; n < 30; n += 1) {
      statuses.push((await enroll(edge.port, { site_code: `S${n}`, enrollment_key: 'x', public_key: 'k', hostname: 'h' })).status);
    }
    // Junk keys share the per-IP pairing budget (10 per hour), whatever the site_code.
    expect(fx.upstream.requests).toHaveLength(10);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    expect(await fx.redis.keys(`${edge.prefix}rl:enroll_key:*`)).toEqual([]);
  });

  it('caps every enroll from one IP across sites and methods, whatever the outcome', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_ENROLL_PER_MIN: '12', EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '100' });
    fx.upstream.respond(201);
    const statuses: number[] = [];
    for (let n = 0; n < 20; n += 1) {
      const res = n % 2 === 0 ? await enrollWithKey(edge.port, `SITE${n}`, `m${n}`) : await enrollWithCode(edge.port, `SITE${n}`);
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(12);
    expect(fx.upstream.requests).toHaveLength(12);
    const refused = await enrollWithKey(edge.port, 'ANOTHER', 'x');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(edge.logs.some((l) => l.msg === 'access' && l.fields['rule'] === 'enroll_ip')).toBe(true);
  });

  it('stops forwarding an IP whose requests the api keeps refusing with 4xx', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_REJECTED_PER_HOUR: '5' });
    fx.upstream.respond(400);
    const statuses: number[] = [];
    for (let n = 0; n < 9; n += 1) statuses.push((await enrollWithKey(edge.port, 'ACME', `m${n}`)).status);
    expect(statuses).toEqual([400, 400, 400, 400, 400, 429, 429, 429, 429]);
    expect(fx.upstream.requests).toHaveLength(5);
    // Changed by issue 18 #5: the agent routes have their own rejection
    // budget, so a neighbour's refused enrolls do not stop renewals for an hour.
    expect((await send(edge.port, 'POST', '/api/v1/agent/challenge', { body: { fingerprint: 'SHA256:x' } })).status).toBe(400);
    expect(fx.upstream.requests).toHaveLength(6);
  });
});

describe('#8.3 a NAT neighbour guessing poll tokens', () => {
  it('gets a short block on verify and status only: 100 bogus polls do not block enrollment for 24 h', async () => {
    const edge = await edgeWith();
    fx.upstream.respond(401);
    for (let i = 0; i < 100; i += 1) expect((await poll(edge.port)).status).toBe(401);
    const blocked = await poll(edge.port);
    expect(blocked.status).toBe(429);
    const retry = Number(blocked.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(300);
    expect((await send(edge.port, 'POST', '/api/v1/enroll/verify', { body: { enrollment_id: 'x', signature: 'y' } })).status).toBe(429);

    // Enrollment from the same address still reaches the api.
    fx.upstream.respond(201);
    expect((await enrollWithKey(edge.port, 'ACME', 'vma-1')).status).toBe(201);
    const active = await listLockouts(fx.redis, { prefix: edge.prefix });
    expect(active.map((a) => a.kind)).toEqual(['poll_block']);
    expect(active[0]?.retry_after_seconds).toBeLessThanOrEqual(300);
    expect(await fx.redis.exists(`${edge.prefix}block:127.0.0.1`)).toBe(0);
  });

  // Changed by issue 18 #5: the long block is read on enroll, which it
  // guards; polls keep their own budget and short block (edge.renewals.test.ts).
  it('still gives enrollment guessing the long block', async () => {
    const edge = await edgeWith({ EDGE_BLOCK_FAILURES: '3', EDGE_LOCKOUT_FAILURES: '100' });
    fx.upstream.respond(401);
    for (const site of ['A1', 'A2', 'A3']) await enrollWithKey(edge.port, site, 'm');
    const res = await enrollWithKey(edge.port, 'A4', 'm');
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(86_000);
    expect((await poll(edge.port)).status).toBe(401);
  });
});

describe('#8.6 lockouts while Redis is down', () => {
  it('keeps a known lockout through the outage, keeps lockouts made during it, and writes them back', async () => {
    const redisServer = await startRedisServer();
    const prefix = uniquePrefix();
    const probe = new Redis(redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    try {
      const env = { EDGE_UPSTREAM: fx.upstream.url, REDIS_URL: redisServer.url, EDGE_REDIS_PREFIX: prefix, EDGE_LOCKOUT_FAILURES: '2' };
      const edge = fx.track(await startTestEdge(env));
      fx.upstream.respond(401);
      await enrollWithKey(edge.port, 'ACME', 'a');
      await enrollWithKey(edge.port, 'ACME', 'b');
      expect((await enrollWithKey(edge.port, 'ACME', 'c')).status).toBe(429);
      expect(fx.upstream.requests).toHaveLength(2);

      await redisServer.stop();
      await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_redis_up')) === 0, 'edge to notice the outage');
      // The lockout learned before the outage still holds: nothing reaches the api.
      expect((await enrollWithKey(edge.port, 'ACME', 'd')).status).toBe(429);
      expect(fx.upstream.requests).toHaveLength(2);
      // A lockout made during the outage holds too.
      await enrollWithKey(edge.port, 'OTHER', 'a');
      await enrollWithKey(edge.port, 'OTHER', 'b');
      expect((await enrollWithKey(edge.port, 'OTHER', 'c')).status).toBe(429);
      expect(fx.upstream.requests).toHaveLength(4);

      await redisServer.start();
      await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_redis_up')) === 1, 'edge to reconnect', 20_000);
      await waitFor(() => probe.status === 'ready', 'probe to reconnect');
      // Written back: a second edge that never saw it refuses it too.
      const ttl = await probe.pttl(`${prefix}lockout:OTHER:127.0.0.1`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(900_000);
      const second = fx.track(await startTestEdge(env));
      expect((await enrollWithKey(second.port, 'OTHER', 'd')).status).toBe(429);
      expect((await enrollWithKey(edge.port, 'OTHER', 'e')).status).toBe(429);
      expect(fx.upstream.requests).toHaveLength(4);
    } finally {
      probe.disconnect();
      await redisServer.stop();
    }
  }, 60_000);
});

describe('#8.7 IPv6 prefixes and addresses wrapping IPv4', () => {
  const viaProxy = (port: number, clientIp: string) =>
    enroll(port, { site_code: 'ACME', pairing_code: 'AX7K-PJ3F-TH2Q', public_key: 'k', hostname: 'h' }, { 'x-forwarded-for': clientIp });

  it('bounds the /64s of one /56 by the /56 ceiling', async () => {
    const edge = await edgeWith({ EDGE_TRUSTED_PROXIES: '127.0.0.1', EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '2' });
    fx.upstream.respond(201);
    for (let n = 0; n < 20; n += 1) await viaProxy(edge.port, `2001:db8:7:${n.toString(16)}::1`);
    // 2 per /64, but 2 × 4 for the whole /56.
    expect(fx.upstream.requests).toHaveLength(8);
  });

  it('bounds the /56s of one /48 by the /48 ceiling', async () => {
    const edge = await edgeWith({ EDGE_TRUSTED_PROXIES: '127.0.0.1', EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '1' });
    fx.upstream.respond(201);
    for (let n = 0; n < 24; n += 1) await viaProxy(edge.port, `2001:db8:9:${(n << 8).toString(16)}::1`);
    // 1 per /64, 4 per /56, 16 for the whole /48.
    expect(fx.upstream.requests).toHaveLength(16);
  });

  it('gives NAT64 users their own IPv4 budgets and folds hex-form mapped addresses into theirs', async () => {
    const edge = await edgeWith({ EDGE_TRUSTED_PROXIES: '127.0.0.1', EDGE_LIMIT_ENROLL_PAIRING_PER_HOUR: '1' });
    fx.upstream.respond(201);
    expect((await viaProxy(edge.port, '64:ff9b::c000:201')).status).toBe(201);
    expect((await viaProxy(edge.port, '64:ff9b::c000:202')).status).toBe(201);
    expect(fx.upstream.requests.map((r) => r.headers['x-forwarded-for'])).toEqual(['192.0.2.1', '192.0.2.2']);
    // The same IPv4 client in other spellings shares its budget.
    expect((await viaProxy(edge.port, '::ffff:c000:201')).status).toBe(429);
    expect((await viaProxy(edge.port, '192.0.2.2')).status).toBe(429);
  });
});

describe('#8.8 TLS to the api', () => {
  let dir: string;
  let api: https.Server;
  let apiPort: number;
  let fingerprint: string;
  let certPath: string;
  let hits = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edge-upstream-tls-'));
    const cert = await ensureSelfSignedCert(dir, ['api.internal']);
    certPath = cert.certPath;
    fingerprint = cert.fingerprint256;
    api = https.createServer({ cert: await readFile(cert.certPath), key: await readFile(cert.keyPath) }, (req, res) => {
      hits += 1;
      req.resume();
      req.on('end', () => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"status":"awaiting_approval","poll_interval":5}');
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
    apiPort = (api.address() as AddressInfo).port;
  });

  afterAll(async () => {
    api.closeAllConnections();
    await new Promise<void>((r) => api.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  const tlsEdge = (env: Record<string, string>) => edgeWith({ EDGE_UPSTREAM: `https://127.0.0.1:${apiPort}`, ...env });

  it('forwards over TLS to an api whose certificate the CA file vouches for', async () => {
    const edge = await tlsEdge({ EDGE_UPSTREAM_CA: certPath });
    const before = hits;
    expect((await poll(edge.port, 't')).status).toBe(202);
    expect(hits).toBe(before + 1);
  });

  it('forwards to an api whose certificate matches the pin', async () => {
    const edge = await tlsEdge({ EDGE_UPSTREAM_PIN: fingerprint });
    expect((await poll(edge.port, 't')).status).toBe(202);
  });

  it('sends nothing to an api whose certificate does not match the pin', async () => {
    const wrong = `${fingerprint.slice(0, -2)}${fingerprint.endsWith('00') ? '11' : '00'}`;
    const edge = await tlsEdge({ EDGE_UPSTREAM_PIN: wrong });
    const before = hits;
    const res = await poll(edge.port, 't');
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'bad_gateway' } });
    expect(hits).toBe(before);
  });

  it('sends nothing to an api no configured CA vouches for', async () => {
    const edge = await tlsEdge({});
    const before = hits;
    expect((await poll(edge.port, 't')).status).toBe(502);
    expect(hits).toBe(before);
  });
});
