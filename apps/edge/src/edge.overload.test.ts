/**
 * Issue #13, the api hop under a flood: at most EDGE_UPSTREAM_MAX_INFLIGHT
 * requests are at the api at once, EDGE_UPSTREAM_QUEUE more wait (for at most
 * EDGE_UPSTREAM_QUEUE_MS), and every further request is answered at once with
 * `503 service_unavailable` and `Retry-After` instead of piling up behind the
 * api. Real sockets; the api is a stand-in that holds every request until told
 * to answer, so "at once" is shown by order (answered while the api still
 * holds everything), never by timing.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestEdge } from './testing/harness.ts';
import { metricValue, send, type SimpleResponse, waitFor } from '@airlock/testing';

interface HoldingUpstream {
  url: string;
  /** Requests received so far. */
  received: () => number;
  /** Requests the api holds right now, and the most it ever held at once. */
  holding: () => number;
  peak: () => number;
  /** Answers every held request and every later one at once. */
  release: () => void;
  close: () => Promise<void>;
}

const startHoldingUpstream = async (): Promise<HoldingUpstream> => {
  const held: http.ServerResponse[] = [];
  let received = 0;
  let open = 0;
  let peak = 0;
  let releasing = false;
  const answer = (res: http.ServerResponse) => {
    const body = JSON.stringify({ status: 'awaiting_approval', poll_interval: 5 });
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    received += 1;
    open += 1;
    peak = Math.max(peak, open);
    res.once('close', () => (open -= 1));
    req.resume();
    req.once('end', () => (releasing ? answer(res) : held.push(res)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    holding: () => held.length,
    peak: () => peak,
    release: () => {
      releasing = true;
      for (const res of held.splice(0)) answer(res);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const setup = async (env: Record<string, string>) => {
  const api = await startHoldingUpstream();
  cleanups.push(api.close);
  const edge = await startTestEdge({ EDGE_UPSTREAM: api.url, EDGE_MAX_CONNECTIONS_PER_IP: '100', ...env });
  cleanups.push(edge.close);
  const status = (): Promise<SimpleResponse> =>
    send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
  return { api, edge, status };
};

const expectBusy = (res: SimpleResponse) => {
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toMatch(/^\d+$/);
  expect(JSON.parse(res.body)).toEqual({ error: { code: 'service_unavailable', message: expect.any(String) } });
};

describe('concurrency cap towards the api (#13)', () => {
  it('holds N at the api and Q in the queue, refuses the rest at once, and lets new requests through once the api answers', async () => {
    const N = 3;
    const Q = 2;
    const { api, edge, status } = await setup({
      EDGE_UPSTREAM_MAX_INFLIGHT: String(N),
      EDGE_UPSTREAM_QUEUE: String(Q),
      // Far longer than the test: only a full queue refuses here.
      EDGE_UPSTREAM_QUEUE_MS: '600000',
    });

    const held = Array.from({ length: N + Q }, () => status());
    await waitFor(() => api.holding() === N, `the api to hold ${N} requests`);
    await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_upstream_queued')) === Q, `${Q} requests to wait at the edge`);
    expect(await metricValue(edge.metricsPort, 'edge_upstream_inflight')).toBe(N);

    // The api still holds everything: these can only have been answered by the edge, without waiting.
    const refused = await Promise.all([status(), status(), status()]);
    for (const res of refused) expectBusy(res);
    expect(api.received()).toBe(N);
    expect(api.holding()).toBe(N);
    expect(await metricValue(edge.metricsPort, 'edge_upstream_shed_total{reason="queue_full"}')).toBe(3);
    const access = edge.logs.filter((l) => l.msg === 'access' && l.fields['status'] === 503);
    expect(access).toHaveLength(3);
    for (const line of access) expect(line.fields['reason']).toBe('upstream busy: queue_full');

    api.release();
    const answered = await Promise.all(held);
    expect(answered.map((r) => r.status)).toEqual(Array(N + Q).fill(202));
    // New requests go through again.
    const after = await Promise.all([status(), status()]);
    expect(after.map((r) => r.status)).toEqual([202, 202]);
    expect(api.received()).toBe(N + Q + 2);
    // The api never saw more than N at once.
    expect(api.peak()).toBeLessThanOrEqual(N);
    expect(await metricValue(edge.metricsPort, 'edge_upstream_inflight')).toBe(0);
    expect(await metricValue(edge.metricsPort, 'edge_upstream_queued')).toBe(0);
  });

  it('refuses a queued request whose wait runs out, and never sends it', async () => {
    const { api, edge, status } = await setup({
      EDGE_UPSTREAM_MAX_INFLIGHT: '1',
      EDGE_UPSTREAM_QUEUE: '10',
      EDGE_UPSTREAM_QUEUE_MS: '200',
    });
    const first = status();
    await waitFor(() => api.holding() === 1, 'the api to hold the first request');
    // Waits for the one slot, which the api keeps: refused when its wait is over.
    expectBusy(await status());
    expect(await metricValue(edge.metricsPort, 'edge_upstream_shed_total{reason="queue_timeout"}')).toBe(1);
    expect(edge.logs.some((l) => l.msg === 'access' && l.fields['reason'] === 'upstream busy: queue_timeout')).toBe(true);
    api.release();
    expect((await first).status).toBe(202);
    expect((await status()).status).toBe(202);
    // The refused one was never sent.
    expect(api.received()).toBe(2);
    expect(api.peak()).toBe(1);
  });

  it('gives the slot of a client that left the queue to the next one', async () => {
    const { api, edge, status } = await setup({
      EDGE_UPSTREAM_MAX_INFLIGHT: '1',
      EDGE_UPSTREAM_QUEUE: '1',
      EDGE_UPSTREAM_QUEUE_MS: '600000',
    });
    const first = status();
    await waitFor(() => api.holding() === 1, 'the api to hold the first request');
    // A queued client hangs up: its place in the queue is free again.
    const gone = http.request({
      host: '127.0.0.1',
      port: edge.port,
      path: '/api/v1/enroll/status',
      headers: { authorization: 'Bearer t' },
      agent: false,
    });
    gone.on('error', () => undefined);
    gone.end();
    await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_upstream_queued')) === 1, 'the request to wait');
    gone.destroy();
    await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_upstream_queued')) === 0, 'the queue to empty');
    const next = status();
    await waitFor(async () => (await metricValue(edge.metricsPort, 'edge_upstream_queued')) === 1, 'the next request to wait');
    api.release();
    expect((await first).status).toBe(202);
    expect((await next).status).toBe(202);
    // The request that left was never sent.
    expect(api.received()).toBe(2);
  });
});
