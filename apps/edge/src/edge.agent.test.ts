/**
 * Issue #10, edge side: the two agent routes are forwarded exactly, under the
 * same screening and body rules as enroll, with their own per-IP budget, and
 * their 401s count toward the per-IP failure block.
 */
import { describe, expect, it } from 'vitest';
import { useEdgeFixture } from './testing/fixture.ts';
import { enrollWithKey, jsonPost, rawRequest, req, send } from '@airlock/testing';

const fx = useEdgeFixture();
const { edgeWith } = fx;

const CHALLENGE = JSON.stringify({ fingerprint: 'SHA256:uSt2aMwPs0mCQbDjE3hGlWd1W8fzJ4sYJqJ8z7hQk1E' });
const CREDENTIALS = JSON.stringify({
  fingerprint: 'SHA256:uSt2aMwPs0mCQbDjE3hGlWd1W8fzJ4sYJqJ8z7hQk1E',
  challenge_id: '0b7c5a36-4f0e-4b8f-9c43-8d1c1b3c6f0e',
  signature: 'c2ln',
  rotate_agent_key: true,
});

describe('agent routes', () => {
  it('forwards POST /api/v1/agent/challenge and /credentials byte for byte with the edge forwarding headers', async () => {
    const edge = await edgeWith();
    fx.upstream.respond(201);
    const a = await rawRequest(edge.port, jsonPost('/api/v1/agent/challenge', CHALLENGE, [['User-Agent', 'airlock-agent/1.1']]));
    expect(a.status).toBe(201);
    fx.upstream.respond(200);
    const b = await rawRequest(edge.port, jsonPost('/api/v1/agent/credentials', CREDENTIALS));
    expect(b.status).toBe(200);
    expect(fx.upstream.requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      `POST /api/v1/agent/challenge ${CHALLENGE}`,
      `POST /api/v1/agent/credentials ${CREDENTIALS}`,
    ]);
    expect(fx.upstream.requests[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(fx.upstream.requests[0]?.headers['user-agent']).toBe('airlock-agent/1.1');
    expect(a.headers['ratelimit-limit']).toBe('60');
  });

  it.each([
    ['GET on the challenge route', req('GET', '/api/v1/agent/challenge')],
    ['GET on the credentials route', req('GET', '/api/v1/agent/credentials')],
    ['a sibling path', jsonPost('/api/v1/agent/keys', '{}')],
    ['the bare prefix', jsonPost('/api/v1/agent', '{}')],
    ['a longer path', jsonPost('/api/v1/agent/credentials/x', '{}')],
  ])('answers 404 for %s without reaching the api', async (_name, bytes) => {
    const edge = await edgeWith();
    const res = await rawRequest(edge.port, bytes);
    expect(res.status).toBe(404);
    expect(fx.upstream.requests).toHaveLength(0);
  });

  it.each([
    ['a query string', jsonPost('/api/v1/agent/credentials?rotate=1', CREDENTIALS)],
    ['a trailing slash', jsonPost('/api/v1/agent/challenge/', CHALLENGE)],
    ['a case variant', jsonPost('/api/v1/Agent/challenge', CHALLENGE)],
    ['an encoded segment', jsonPost('/api/v1/agent/%63hallenge', CHALLENGE)],
    ['a method override', jsonPost('/api/v1/agent/challenge', CHALLENGE, [['X-HTTP-Method-Override', 'DELETE']])],
    [
      'chunked framing',
      req('POST', '/api/v1/agent/credentials', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], '2\r\n{}\r\n0\r\n\r\n'),
    ],
  ])('refuses %s with 400 without reaching the api', async (_name, bytes) => {
    const edge = await edgeWith();
    const res = await rawRequest(edge.port, bytes);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'invalid_request' } });
    expect(fx.upstream.requests).toHaveLength(0);
  });

  it('applies the enroll body rules: JSON only, 16 KiB at most', async () => {
    const edge = await edgeWith();
    const text = await rawRequest(
      edge.port,
      req('POST', '/api/v1/agent/challenge', [['Content-Type', 'text/plain'], ['Content-Length', '2']], '{}'),
    );
    expect(text.status).toBe(415);
    const big = 'x'.repeat(16_385);
    const tooBig = await rawRequest(edge.port, jsonPost('/api/v1/agent/credentials', big));
    expect(tooBig.status).toBe(413);
    expect(fx.upstream.requests).toHaveLength(0);
  });

  it('limits each agent route per IP (EDGE_LIMIT_AGENT_PER_HOUR)', async () => {
    const edge = await edgeWith({ EDGE_LIMIT_AGENT_PER_HOUR: '2' });
    fx.upstream.respond(201);
    const challenge = () => send(edge.port, 'POST', '/api/v1/agent/challenge', { body: JSON.parse(CHALLENGE) as unknown });
    const statuses = [(await challenge()).status, (await challenge()).status, (await challenge()).status];
    expect(statuses).toEqual([201, 201, 429]);
    const limited = await challenge();
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(60);
    fx.upstream.respond(200);
    // The credentials route has its own budget of the same size.
    expect((await send(edge.port, 'POST', '/api/v1/agent/credentials', { body: JSON.parse(CREDENTIALS) as unknown })).status).toBe(200);
    expect(fx.upstream.requests).toHaveLength(3);
  });

  it('counts agent_denied answers toward the per-IP failure block, which then guards enrollment too', async () => {
    const edge = await edgeWith({ EDGE_BLOCK_FAILURES: '3', EDGE_BLOCK_SECONDS: '3600' });
    fx.upstream.respond(401);
    for (let i = 0; i < 3; i += 1) {
      expect((await send(edge.port, 'POST', '/api/v1/agent/credentials', { body: JSON.parse(CREDENTIALS) as unknown })).status).toBe(401);
    }
    const blocked = await send(edge.port, 'POST', '/api/v1/agent/challenge', { body: JSON.parse(CHALLENGE) as unknown });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(3_000);
    fx.upstream.respond(201);
    expect((await enrollWithKey(edge.port, 'ACME', 'm')).status).toBe(429);
    expect(fx.upstream.requests).toHaveLength(3);
  });
});
