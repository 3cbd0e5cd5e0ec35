import * as http from 'node:http';
import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge } from './testing/harness.ts';
import { enrollWithKey, freePort, metricValue, rawRequest, type RecordingUpstream, req, send, sleep, startRecordingUpstream, startRedisServer, uniquePrefix, waitFor } from '@airlock/testing';

let upstream: RecordingUpstream;
const started: Array<{ close: () => Promise<void> }> = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  upstream = await startRecordingUpstream();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(started.splice(0).map((e) => e.close()));
  upstream.requests.length = 0;
  upstream.respond(200);
});

afterAll(async () => {
  await upstream.close();
});

const edgeWith = async (env: Record<string, string>) => {
  const edge = await startTestEdge({ EDGE_UPSTREAM: upstream.url, ...env });
  started.push(edge);
  return edge;
};

const status = (port: number) =>
  send(port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });

describe('Redis outage', () => {
  it('keeps limiting in memory while Redis is down and limits through Redis again once it is back', async () => {
    const redisServer = await startRedisServer();
    const prefix = uniquePrefix();
    const probe = new Redis(redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    try {
      const edge = await edgeWith({ REDIS_URL: redisServer.url, EDGE_REDIS_PREFIX: prefix, EDGE_LIMIT_STATUS_PER_MIN: '3' });
      upstream.respond(202);
      expect((await status(edge.port)).status).toBe(202);
      expect(await probe.exists(`${prefix}rl:status:127.0.0.1`)).toBe(1);
      expect(await metricValue(edge.metricsPort, 'edge_redis_up')).toBe(1);

      await redisServer.stop();
      await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_redis_up')) === 0, 'edge to notice the outage');
      const during = [];
      for (let i = 0; i < 4; i += 1) during.push((await status(edge.port)).status);
      // Never fails open: the insurance limiter enforces the same budget.
      expect(during).toEqual([202, 202, 202, 429]);
      expect(edge.logs.some((l) => l.level === 'error' && l.msg.includes('redis unavailable'))).toBe(true);

      await redisServer.start();
      await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_redis_up')) === 1, 'edge to reconnect', 20_000);
      await waitFor(() => probe.status === 'ready', 'probe to reconnect');
      const after = [];
      for (let i = 0; i < 4; i += 1) after.push((await status(edge.port)).status);
      expect(after).toEqual([202, 202, 202, 429]);
      expect(Number(await probe.get(`${prefix}rl:status:127.0.0.1`))).toBeGreaterThanOrEqual(3);
      expect(await metricValue(edge.metricsPort, 'edge_redis_transitions_total{to="down"}')).toBe(1);
    } finally {
      probe.disconnect();
      await redisServer.stop();
    }
  }, 60_000);

  it('adds the wrong tries counted in memory during an outage to Redis, so they and the later ones make one lockout', async () => {
    const redisServer = await startRedisServer();
    const prefix = uniquePrefix();
    const probe = new Redis(redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    try {
      const edge = await edgeWith({ REDIS_URL: redisServer.url, EDGE_REDIS_PREFIX: prefix, EDGE_LOCKOUT_FAILURES: '5', EDGE_BLOCK_FAILURES: '1000' });
      upstream.respond(401);
      expect(await metricValue(edge.metricsPort, 'edge_redis_up')).toBe(1);
      await redisServer.stop();
      await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_redis_up')) === 0, 'edge to notice the outage');
      // Three wrong tries while Redis is down: counted in memory (3 of 5)…
      for (let i = 1; i <= 3; i += 1) expect((await enrollWithKey(edge.port, 'ACME', `m${i}`)).status).toBe(401);
      // …Redis comes back empty (no persistence): only what the edge hands back is there.
      await redisServer.start();
      await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_redis_up')) === 1, 'edge to reconnect', 20_000);
      await waitFor(() => probe.status === 'ready', 'probe to reconnect');
      expect(Number(await probe.get(`${prefix}fail:site:ACME:127.0.0.1`))).toBe(3);
      expect(edge.logs.some((l) => l.msg === 'failure counts made during the redis outage written back')).toBe(true);
      // The fifth wrong try in all locks out, in Redis, as if there had been no outage.
      expect((await enrollWithKey(edge.port, 'ACME', 'm4')).status).toBe(401);
      expect((await enrollWithKey(edge.port, 'ACME', 'm5')).status).toBe(401);
      expect((await enrollWithKey(edge.port, 'ACME', 'm6')).status).toBe(429);
      expect(await probe.exists(`${prefix}lockout:ACME:127.0.0.1`)).toBe(1);
    } finally {
      probe.disconnect();
      await redisServer.stop();
    }
  }, 60_000);

  it('starts and limits when Redis is unreachable from the beginning', async () => {
    const dead = await freePort();
    const edge = await edgeWith({ REDIS_URL: `redis://127.0.0.1:${dead}`, EDGE_LIMIT_STATUS_PER_MIN: '1' });
    upstream.respond(202);
    expect((await status(edge.port)).status).toBe(202);
    expect((await status(edge.port)).status).toBe(429);
    expect(await metricValue(edge.metricsPort, 'edge_redis_up')).toBe(0);
  });
});

describe('upstream failure', () => {
  it('answers 502 when the api is down and stays up', async () => {
    const dead = await freePort();
    const edge = await startTestEdge({ EDGE_UPSTREAM: `http://127.0.0.1:${dead}` });
    started.push(edge);
    for (let i = 0; i < 3; i += 1) {
      const res = await status(edge.port);
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'bad_gateway' } });
    }
    expect((await send(edge.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers 504 when the api is too slow', async () => {
    const edge = await edgeWith({ EDGE_UPSTREAM_TIMEOUT_MS: '300' });
    upstream.respond(202, 3_000);
    const res = await status(edge.port);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'gateway_timeout' } });
    expect((await send(edge.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('does not count a 502 as a failure or a success', async () => {
    const dead = await freePort();
    const edge = await startTestEdge({ EDGE_UPSTREAM: `http://127.0.0.1:${dead}`, EDGE_LOCKOUT_FAILURES: '1' });
    started.push(edge);
    const body = { site_code: 'ACME', enrollment_key: 'cek_x' };
    expect((await send(edge.port, 'POST', '/api/v1/enroll', { body })).status).toBe(502);
    expect((await send(edge.port, 'POST', '/api/v1/enroll', { body })).status).toBe(502);
  });
});

describe('slow clients', () => {
  it('cuts a client that trickles its headers at the header timeout', async () => {
    const edge = await edgeWith({
      EDGE_HEADERS_TIMEOUT_MS: '1000',
      EDGE_REQUEST_TIMEOUT_MS: '5000',
      EDGE_CONNECTIONS_CHECK_MS: '100',
    });
    const socket = connect({ port: edge.port, host: '127.0.0.1' });
    sockets.push(socket);
    let received = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: edge.test\r\n');
    // Keep trickling header bytes like a slowloris would, far past the limit.
    let sent = 0;
    while (!closed && sent < 100) {
      socket.write(`X-Slow-${sent}: 1\r\n`);
      sent += 1;
      await sleep(200);
    }
    expect(closed).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received).toContain('"request_timeout"');
  }, 30_000);

  it('cuts a client that trickles its body at the whole-request timeout', async () => {
    const edge = await edgeWith({
      EDGE_HEADERS_TIMEOUT_MS: '500',
      EDGE_REQUEST_TIMEOUT_MS: '1500',
      EDGE_CONNECTIONS_CHECK_MS: '100',
    });
    const socket = connect({ port: edge.port, host: '127.0.0.1' });
    sockets.push(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      'POST /api/v1/enroll HTTP/1.1\r\nHost: edge.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    let sent = 0;
    while (!closed && sent < 100) {
      socket.write(' ');
      sent += 1;
      await sleep(200);
    }
    expect(closed).toBe(true);
    expect(upstream.requests).toHaveLength(0);
  }, 30_000);
});

describe('requests per connection', () => {
  it('closes after EDGE_MAX_REQUESTS_PER_SOCKET, and a client that keeps sending gets the envelope, never a bare status', async () => {
    const edge = await edgeWith({ EDGE_MAX_REQUESTS_PER_SOCKET: '2', EDGE_LIMIT_STATUS_PER_MIN: '1000' });
    upstream.respond(202);
    const socket = connect({ port: edge.port, host: '127.0.0.1' });
    sockets.push(socket);
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    // Four pipelined in one write: the client does not wait to hear `Connection: close`.
    const one = 'GET /api/v1/enroll/status HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer t\r\n\r\n';
    socket.write(one.repeat(4));
    await closed;
    const answers = text.split(/(?=HTTP\/1\.1 )/).filter(Boolean);
    expect(answers.length).toBeGreaterThanOrEqual(2);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 202 /);
    expect(answers[0]).toMatch(/\r\nConnection: keep-alive\r\n/i);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 202 /);
    expect(answers[1]).toMatch(/\r\nconnection: close\r\n/i);
    // Whatever the server still answers past the limit is the contract's envelope.
    for (const extra of answers.slice(2)) {
      expect(extra).toMatch(/^HTTP\/1\.1 503 /);
      expect(extra.slice(extra.indexOf('\r\n\r\n') + 4)).toBe(JSON.stringify({ error: { code: 'service_unavailable', message: 'Too many requests on one connection; open a new one' } }));
    }
    expect(upstream.requests).toHaveLength(2);
  });
});

describe('connection cap per IP', () => {
  const openIdle = async (port: number): Promise<Socket> => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    sockets.push(s);
    await new Promise<void>((r) => s.once('connect', () => r()));
    return s;
  };

  it('refuses connections beyond the cap and accepts again when one closes', async () => {
    const edge = await edgeWith({ EDGE_MAX_CONNECTIONS_PER_IP: '3' });
    const held = [await openIdle(edge.port), await openIdle(edge.port), await openIdle(edge.port)];
    // Let the edge register them.
    await sleep(100);
    const refused = await rawRequest(edge.port, req('GET', '/healthz'));
    expect(refused.status).toBeNull();
    expect(refused.closedByServer).toBe(true);
    held[0]?.destroy();
    await sleep(100);
    expect((await rawRequest(edge.port, req('GET', '/healthz'))).status).toBe(200);
    expect(await metricValue(edge.metricsPort, 'edge_connections_refused_total')).toBe(1);
  });

  it('makes room by closing an idle keep-alive connection of the same client', async () => {
    const edge = await edgeWith({ EDGE_MAX_CONNECTIONS_PER_IP: '2' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    await Promise.all([send(edge.port, 'GET', '/healthz', { agent }), send(edge.port, 'GET', '/healthz', { agent })]);
    // Two parked keep-alive sockets now fill the cap; a new client must still get in.
    expect((await rawRequest(edge.port, req('GET', '/healthz'))).status).toBe(200);
    agent.destroy();
  });
});

describe('metrics', () => {
  it('serves Prometheus metrics on the internal port only', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_STATUS_PER_MIN: '1' });
    upstream.respond(202);
    await status(edge.port);
    await status(edge.port);
    await send(edge.port, 'GET', '/nope');
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: edge.metricsPort, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    expect(text).toContain('edge_requests_total{route="status",status="202"} 1');
    expect(text).toContain('edge_requests_total{route="status",status="429"} 1');
    expect(text).toContain('edge_requests_total{route="unmatched",status="404"} 1');
    expect(text).toContain('edge_throttle_decisions_total{rule="status",decision="limit"} 1');
    expect(text).toContain('edge_upstream_duration_seconds_count{route="status"} 1');
    expect(text).toContain('edge_redis_up');
    expect((await send(edge.port, 'GET', '/metrics')).status).toBe(404);
    expect((await send(edge.metricsPort, 'GET', '/other')).status).toBe(404);
  });
});

describe('connection cap and trusted proxies', () => {
  it('does not cap a trusted proxy, which carries many clients', async () => {
    const edge = await edgeWith({ EDGE_MAX_CONNECTIONS_PER_IP: '2', EDGE_TRUSTED_PROXIES: '127.0.0.1' });
    for (let i = 0; i < 3; i += 1) {
      const s = connect({ port: edge.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      sockets.push(s);
      await new Promise<void>((r) => s.once('connect', () => r()));
    }
    await sleep(100);
    expect((await rawRequest(edge.port, req('GET', '/healthz'))).status).toBe(200);
  });
});

describe('dual-stack listener', () => {
  it('folds IPv4-mapped peers to IPv4 in X-Forwarded-For', async () => {
    const edge = await edgeWith({ EDGE_HOST: '::' });
    upstream.respond(202);
    await status(edge.port);
    expect(upstream.requests[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('clients that hang up', () => {
  it('finishes its bookkeeping when the client leaves while the api is slow', async () => {
    const edge = await edgeWith({});
    upstream.respond(202, 800);
    const socket = connect({ port: edge.port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(req('GET', '/api/v1/enroll/status', [['Authorization', 'Bearer t']]));
    await waitFor(() => upstream.requests.length === 1, 'request to reach the api');
    socket.destroy();
    await waitFor(
      () => edge.logs.some((l) => l.msg === 'access' && l.fields['reason'] === 'client closed the connection'),
      'access line for the abandoned request',
    );
    expect((await send(edge.port, 'GET', '/healthz')).status).toBe(200);
  });
});
