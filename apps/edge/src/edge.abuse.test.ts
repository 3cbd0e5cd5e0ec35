import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestEdge } from './testing/harness.ts';
import { deletePrefix, jsonPost, rawRequest, type RecordingUpstream, REDIS_URL, req, startRecordingUpstream, uniquePrefix, waitFor } from '@airlock/testing';

const ENROLL_BODY = JSON.stringify({
  site_code: 'acme-phx',
  enrollment_key: 'cek_test',
  public_key: 'ssh-ed25519 AAAA',
  hostname: 'vma-01',
  machine_uid: 'abcdefgh',
});

let upstream: RecordingUpstream;
let edge: Awaited<ReturnType<typeof startTestEdge>>;
let trustedEdge: Awaited<ReturnType<typeof startTestEdge>>;
const prefix = uniquePrefix();

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  const env = { EDGE_UPSTREAM: upstream.url, REDIS_URL, EDGE_REDIS_PREFIX: prefix };
  edge = await startTestEdge(env);
  trustedEdge = await startTestEdge({ ...env, EDGE_TRUSTED_PROXIES: '127.0.0.0/8, ::1' });
});

afterAll(async () => {
  await edge.close();
  await trustedEdge.close();
  await upstream.close();
  await deletePrefix(REDIS_URL, prefix);
});

beforeEach(() => {
  upstream.requests.length = 0;
  upstream.respond(201);
});

const expectEnvelope = (body: string, code: string) => {
  const parsed = JSON.parse(body) as { error: { code: string; message: string } };
  expect(parsed.error.code).toBe(code);
  expect(typeof parsed.error.message).toBe('string');
};

describe('allowlist', () => {
  it('forwards POST /api/v1/enroll with the exact target, the body unchanged and the edge forwarding headers', async () => {
    const res = await rawRequest(edge.port, jsonPost('/api/v1/enroll', ENROLL_BODY, [['User-Agent', 'airlock-agent/1.0']]));
    expect(res.status).toBe(201);
    expect(upstream.requests).toHaveLength(1);
    const seen = upstream.requests[0];
    expect(seen?.method).toBe('POST');
    expect(seen?.url).toBe('/api/v1/enroll');
    expect(seen?.body).toBe(ENROLL_BODY);
    expect(seen?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen?.headers['x-forwarded-proto']).toBe('http');
    expect(seen?.headers['x-request-id']).toBe(res.headers['x-request-id']);
    expect(seen?.headers['user-agent']).toBe('airlock-agent/1.0');
    expect(res.headers['ratelimit-limit']).toBe('60');
  });

  it('forwards POST /api/v1/enroll/verify', async () => {
    upstream.respond(200);
    const body = JSON.stringify({ enrollment_id: 'x', signature: 'y' });
    const res = await rawRequest(edge.port, jsonPost('/api/v1/enroll/verify', body));
    expect(res.status).toBe(200);
    expect(upstream.requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      `POST /api/v1/enroll/verify ${body}`,
    ]);
  });

  it('forwards GET /api/v1/enroll/status with the bearer token', async () => {
    upstream.respond(202);
    const res = await rawRequest(edge.port, req('GET', '/api/v1/enroll/status', [['Authorization', 'Bearer tok']]));
    expect(res.status).toBe(202);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]?.url).toBe('/api/v1/enroll/status');
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer tok');
  });

  it('answers GET /healthz itself', async () => {
    const res = await rawRequest(edge.port, req('GET', '/healthz'));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
    expect(upstream.requests).toHaveLength(0);
  });

  it.each([
    ['an unknown path', req('GET', '/api/v1/admin/sites')],
    ['the root', req('GET', '/')],
    ['metrics on the public port', req('GET', '/metrics')],
    ['a public path with the wrong method', req('GET', '/api/v1/enroll')],
    ['POST to status', jsonPost('/api/v1/enroll/status', '{}')],
    ['a longer path', jsonPost('/api/v1/enroll/verify/x', '{}')],
  ])('answers 404 not_found for %s without reaching the api', async (_name, bytes) => {
    const res = await rawRequest(edge.port, bytes);
    expect(res.status).toBe(404);
    expectEnvelope(res.body, 'not_found');
    expect(upstream.requests).toHaveLength(0);
  });

  it('does not forward admin-looking headers the api never needs', async () => {
    await rawRequest(edge.port, jsonPost('/api/v1/enroll', ENROLL_BODY, [['Cookie', 'a=b'], ['X-Admin', '1']]));
    expect(upstream.requests[0]?.headers.cookie).toBeUndefined();
    expect(upstream.requests[0]?.headers['x-admin']).toBeUndefined();
  });
});

describe('operator console (never forwarded)', () => {
  it.each([
    ['the console root', req('GET', '/console')],
    ['the console with a trailing slash', req('GET', '/console/')],
    ['a console page', req('GET', '/console/pending')],
    ['a console asset', req('GET', '/console/assets/app.js')],
    ['the console sign-in', jsonPost('/console/login', '{"operator":"a","password":"b"}')],
    ['a console api call', jsonPost('/console/api/enrollments/x/approve', '{}')],
    ['a console path behind the public prefix', req('GET', '/api/v1/console')],
    ['an encoded console path', req('GET', '/%63onsole')],
    ['a dot-segment console path', req('GET', '/api/v1/../../console')],
    ['a case variant of the console', req('GET', '/Console')],
  ])('refuses %s without reaching the api', async (_name, bytes) => {
    const res = await rawRequest(edge.port, bytes);
    expect([400, 404]).toContain(res.status);
    expectEnvelope(res.body, res.status === 404 ? 'not_found' : 'invalid_request');
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('body rules', () => {
  it('answers 413 from the declared length without reading the body', async () => {
    const res = await rawRequest(
      edge.port,
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '16385']], '{"a":'),
    );
    expect(res.status).toBe(413);
    expectEnvelope(res.body, 'payload_too_large');
    expect(res.headers['connection']).toBe('close');
    expect(upstream.requests).toHaveLength(0);
  });

  it('accepts a body of exactly 16 KiB and forwards it byte for byte', async () => {
    const shell = JSON.stringify({ site_code: 'ACME', pad: '' });
    const body = JSON.stringify({ site_code: 'ACME', pad: 'x'.repeat(16_384 - shell.length) });
    expect(Buffer.byteLength(body)).toBe(16_384);
    const res = await rawRequest(edge.port, jsonPost('/api/v1/enroll', body));
    expect(res.status).toBe(201);
    expect(upstream.requests[0]?.body).toBe(body);
  });

  it('forwards non-ASCII JSON bodies unchanged', async () => {
    const body = JSON.stringify({ site_code: 'ACME', hostname: 'vmä-01 ✓' });
    const res = await rawRequest(edge.port, jsonPost('/api/v1/enroll', body));
    expect(res.status).toBe(201);
    expect(upstream.requests[0]?.body).toBe(body);
  });

  it('answers 413 to Expect: 100-continue without inviting the body', async () => {
    const res = await rawRequest(
      edge.port,
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '20000'], ['Expect', '100-continue']]),
    );
    expect(res.raw.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(upstream.requests).toHaveLength(0);
  });

  it('sends 100 Continue for an acceptable body and forwards it', async () => {
    const res = await rawRequest(
      edge.port,
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '2'], ['Expect', '100-continue']], '{}'),
    );
    expect(res.raw.startsWith('HTTP/1.1 100 Continue')).toBe(true);
    await waitFor(() => upstream.requests.length === 1, 'the body to reach the api');
    expect(upstream.requests.map((r) => r.body)).toEqual(['{}']);
  });

  it.each([
    ['text/plain', [['Content-Type', 'text/plain']]],
    ['form', [['Content-Type', 'application/x-www-form-urlencoded']]],
    ['missing', []],
    ['json lookalike', [['Content-Type', 'application/jsonp']]],
  ] as Array<[string, Array<[string, string]>]>)('answers 415 for a %s content type', async (_n, ct) => {
    const res = await rawRequest(
      edge.port,
      req('POST', '/api/v1/enroll', [...ct, ['Content-Length', String(ENROLL_BODY.length)]], ENROLL_BODY),
    );
    expect(res.status).toBe(415);
    expectEnvelope(res.body, 'unsupported_media_type');
    expect(upstream.requests).toHaveLength(0);
  });

  it('forwards malformed JSON unchanged so the api can answer 400', async () => {
    upstream.respond(400);
    const res = await rawRequest(edge.port, jsonPost('/api/v1/enroll', '{not json'));
    expect(res.status).toBe(400);
    expect(upstream.requests[0]?.body).toBe('{not json');
  });
});

// Every abuse class: the edge answers 400 invalid_request and the api sees nothing.
const ABUSE: Record<string, Array<[string, string]>> = {
  'path tricks': [
    ['trailing slash', jsonPost('/api/v1/enroll/', ENROLL_BODY)],
    ['upper case', jsonPost('/API/v1/enroll', ENROLL_BODY)],
    ['mixed case segment', jsonPost('/api/v1/Enroll', ENROLL_BODY)],
    ['double slash', jsonPost('/api/v1//enroll', ENROLL_BODY)],
    ['leading double slash', jsonPost('//api/v1/enroll', ENROLL_BODY)],
    ['dot segment', jsonPost('/api/v1/./enroll', ENROLL_BODY)],
    ['dot-dot segment', jsonPost('/api/v1/x/../enroll', ENROLL_BODY)],
    ['encoded slash', jsonPost('/api/v1/enroll%2F', ENROLL_BODY)],
    ['encoded letter', jsonPost('/api/v1/%65nroll', ENROLL_BODY)],
    ['encoded dot', jsonPost('/api/v1/%2e/enroll', ENROLL_BODY)],
    ['backslash separator', jsonPost('/api/v1\\enroll', ENROLL_BODY)],
    ['matrix params', jsonPost('/api/v1/enroll;x=1', ENROLL_BODY)],
    ['query string', jsonPost('/api/v1/enroll?x=1', ENROLL_BODY)],
    ['empty query', jsonPost('/api/v1/enroll?', ENROLL_BODY)],
    ['fragment', jsonPost('/api/v1/enroll#frag', ENROLL_BODY)],
    ['query on status', req('GET', '/api/v1/enroll/status?token=x')],
    ['trailing dot', req('GET', '/healthz/.')],
    ['case variant of healthz', req('GET', '/HEALTHZ')],
  ],
  'request-target forms and methods': [
    ['absolute-form', jsonPost('http://x/api/v1/enroll', ENROLL_BODY)],
    ['absolute-form https', req('GET', 'https://edge.test/api/v1/enroll/status')],
    ['asterisk-form OPTIONS', req('OPTIONS', '*')],
    ['OPTIONS on a route', req('OPTIONS', '/api/v1/enroll')],
    ['HEAD on status', req('HEAD', '/api/v1/enroll/status')],
    ['PUT', jsonPost('/api/v1/enroll', ENROLL_BODY).replace(/^POST/, 'PUT')],
    ['DELETE', req('DELETE', '/api/v1/enroll')],
    ['TRACE', req('TRACE', '/api/v1/enroll')],
    ['PATCH', req('PATCH', '/api/v1/enroll')],
    ['lower-case method', req('post', '/api/v1/enroll')],
    ['unknown method', req('FOO', '/api/v1/enroll')],
    ['HTTP/1.0 with body ambiguity', `POST /api/v1/enroll HTTP/1.0\r\nHost: edge.test\r\nContent-Type: application/json\r\n\r\n${ENROLL_BODY}`],
    ['HTTP/1.0 GET', req('GET', '/healthz', [], '', 'HTTP/1.0')],
    ['HTTP/0.9 style', 'GET /healthz\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ],
  'framing and Host': [
    [
      'Content-Length plus Transfer-Encoding',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '4'], ['Transfer-Encoding', 'chunked']], '0\r\n\r\n'),
    ],
    [
      'Transfer-Encoding chunked',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], `2\r\n{}\r\n0\r\n\r\n`),
    ],
    [
      'obfuscated Transfer-Encoding',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '2'], ['Transfer-Encoding', 'xchunked']], '{}'),
    ],
    [
      'Transfer-Encoding list',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked, identity']], '2\r\n{}\r\n0\r\n\r\n'),
    ],
    [
      'Transfer-Encoding with a tab before the value',
      `POST /api/v1/enroll HTTP/1.1\r\nHost: edge.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding:\tchunked\r\n\r\n{}`,
    ],
    [
      'duplicated Content-Length, same value',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '2'], ['Content-Length', '2']], '{}'),
    ],
    [
      'duplicated Content-Length, different values',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '2'], ['Content-Length', '3']], '{} '),
    ],
    [
      'Content-Length with a sign',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '+2']], '{}'),
    ],
    [
      'Content-Length list',
      req('POST', '/api/v1/enroll', [['Content-Type', 'application/json'], ['Content-Length', '2, 2']], '{}'),
    ],
    ['GET with a body', req('GET', '/api/v1/enroll/status', [['Content-Length', '2']], '{}')],
    ['duplicated Host', req('GET', '/api/v1/enroll/status', [['Host', 'a.test'], ['Host', 'b.test']])],
    ['missing Host', 'GET /api/v1/enroll/status HTTP/1.1\r\n\r\n'],
    ['malformed Host', req('GET', '/api/v1/enroll/status', [['Host', 'a.test/evil']])],
    ['Host with userinfo', req('GET', '/api/v1/enroll/status', [['Host', 'user@a.test']])],
    ['duplicated Content-Type', jsonPost('/api/v1/enroll', ENROLL_BODY, [['Content-Type', 'text/plain']])],
    ['duplicated Authorization', req('GET', '/api/v1/enroll/status', [['Authorization', 'Bearer a'], ['authorization', 'Bearer b']])],
    ['obs-fold continuation', `GET /api/v1/enroll/status HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer\r\n  tok\r\n\r\n`],
    ['space before colon', `GET /api/v1/enroll/status HTTP/1.1\r\nHost: edge.test\r\nAuthorization : Bearer x\r\n\r\n`],
    ['bare LF line endings', `GET /api/v1/enroll/status HTTP/1.1\nHost: edge.test\n\n`],
    ['control character in a header value', req('GET', '/api/v1/enroll/status', [['User-Agent', 'a\x01b']])],
    ['non-ASCII header value', req('GET', '/api/v1/enroll/status', [['User-Agent', 'caf\xe9']])],
    ['Expect other than 100-continue', jsonPost('/api/v1/enroll', ENROLL_BODY, [['Expect', 'something']])],
  ],
  'protocol upgrades': [
    ['websocket upgrade', req('GET', '/api/v1/enroll/status', [['Connection', 'Upgrade'], ['Upgrade', 'websocket']])],
    ['Upgrade without Connection', req('GET', '/api/v1/enroll/status', [['Upgrade', 'h2c']])],
    ['h2c upgrade', req('GET', '/api/v1/enroll/status', [['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__']])],
    ['CONNECT', 'CONNECT 127.0.0.1:8082 HTTP/1.1\r\nHost: 127.0.0.1:8082\r\n\r\n'],
  ],
  'hop-by-hop headers': [
    ['Connection naming a header', req('GET', '/api/v1/enroll/status', [['Connection', 'keep-alive, X-Foo'], ['X-Foo', '1']])],
    ['Connection naming Authorization', req('GET', '/api/v1/enroll/status', [['Connection', 'Authorization'], ['Authorization', 'Bearer x']])],
    ['Proxy-Connection', req('GET', '/api/v1/enroll/status', [['Proxy-Connection', 'keep-alive']])],
    ['TE', req('GET', '/api/v1/enroll/status', [['TE', 'trailers']])],
    ['Trailer', jsonPost('/api/v1/enroll', ENROLL_BODY, [['Trailer', 'X-Foo']])],
    ['Keep-Alive header', req('GET', '/api/v1/enroll/status', [['Keep-Alive', 'timeout=5']])],
    ['Proxy-Authorization', req('GET', '/api/v1/enroll/status', [['Proxy-Authorization', 'Basic eA==']])],
  ],
  'method-override headers': [
    ['X-HTTP-Method-Override', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-HTTP-Method-Override', 'DELETE']])],
    ['X-HTTP-Method', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-HTTP-Method', 'PUT']])],
    ['X-Method-Override', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-Method-Override', 'GET']])],
    ['X-Original-URL', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-Original-URL', '/api/v1/admin/sites']])],
    ['X-Rewrite-URL', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-Rewrite-URL', '/api/v1/admin/sites']])],
  ],
  'client-supplied forwarding headers': [
    ['X-Forwarded-For', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-Forwarded-For', '1.2.3.4']])],
    ['Forwarded', jsonPost('/api/v1/enroll', ENROLL_BODY, [['Forwarded', 'for=1.2.3.4']])],
    ['X-Real-IP', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-Real-IP', '1.2.3.4']])],
    ['X-Request-Id', jsonPost('/api/v1/enroll', ENROLL_BODY, [['X-Request-Id', 'abc']])],
    ['X-Forwarded-Proto', req('GET', '/api/v1/enroll/status', [['X-Forwarded-Proto', 'https']])],
    ['X-Forwarded-Host', req('GET', '/api/v1/enroll/status', [['X-Forwarded-Host', 'admin.internal']])],
    ['True-Client-IP', req('GET', '/api/v1/enroll/status', [['True-Client-IP', '1.2.3.4']])],
    ['Via', req('GET', '/api/v1/enroll/status', [['Via', '1.1 proxy']])],
  ],
};

describe.each(Object.entries(ABUSE))('abuse: %s', (_cls, cases) => {
  it.each(cases)('refuses %s with 400 and nothing reaches the api', async (_name, bytes) => {
    const res = await rawRequest(edge.port, bytes);
    expect(res.status).toBe(400);
    // A HEAD answer carries no body by definition.
    if (!bytes.startsWith('HEAD')) expectEnvelope(res.body, 'invalid_request');
    expect(res.body).not.toContain('cek_');
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('pipelining and smuggling follow-ups', () => {
  it('does not forward a request smuggled behind a refused one on the same connection', async () => {
    const smuggled = jsonPost('/api/v1/enroll', ENROLL_BODY);
    const first = req('GET', '/api/v1/enroll/status', [['X-HTTP-Method-Override', 'POST']]);
    const res = await rawRequest(edge.port, first + smuggled);
    expect(res.status).toBe(400);
    // Give a wrongly handled second request time to arrive.
    await new Promise((r) => setTimeout(r, 300));
    expect(upstream.requests).toHaveLength(0);
  });

  it('forwards two honest pipelined requests in order', async () => {
    upstream.respond(202);
    const one = req('GET', '/api/v1/enroll/status', [['Authorization', 'Bearer one']]);
    const two = req('GET', '/api/v1/enroll/status', [['Authorization', 'Bearer two']]);
    await rawRequest(edge.port, one + two);
    // The second answer may still be in flight when the first completes.
    await waitFor(() => upstream.requests.length === 2, 'both pipelined requests');
    expect(upstream.requests.map((r) => r.headers.authorization)).toEqual(['Bearer one', 'Bearer two']);
  });
});

describe('client address', () => {
  it('refuses X-Forwarded-For from an untrusted peer and never uses it for throttling', async () => {
    const res = await rawRequest(edge.port, req('GET', '/api/v1/enroll/status', [['X-Forwarded-For', '203.0.113.9']]));
    expect(res.status).toBe(400);
    expect(upstream.requests).toHaveLength(0);
  });

  it('believes X-Forwarded-For from a trusted proxy and forwards the resolved client', async () => {
    upstream.respond(202);
    const res = await rawRequest(
      trustedEdge.port,
      req('GET', '/api/v1/enroll/status', [
        ['X-Forwarded-For', '203.0.113.9, 127.0.0.2'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Request-Id', 'lb-42'],
      ]),
    );
    expect(res.status).toBe(202);
    expect(upstream.requests[0]?.headers['x-forwarded-for']).toBe('203.0.113.9');
    expect(upstream.requests[0]?.headers['x-forwarded-proto']).toBe('https');
    expect(upstream.requests[0]?.headers['x-request-id']).toBe('lb-42');
  });

  it('refuses a malformed X-Forwarded-For even from a trusted proxy', async () => {
    const res = await rawRequest(
      trustedEdge.port,
      req('GET', '/api/v1/enroll/status', [['X-Forwarded-For', 'not-an-ip']]),
    );
    expect(res.status).toBe(400);
    expect(upstream.requests).toHaveLength(0);
  });

  it('uses the socket peer when a trusted proxy sends no X-Forwarded-For', async () => {
    upstream.respond(202);
    await rawRequest(trustedEdge.port, req('GET', '/api/v1/enroll/status'));
    expect(upstream.requests[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('access log', () => {
  it('writes one line per request without bodies, keys or unmatched targets', async () => {
    const before = edge.logs.length;
    await rawRequest(edge.port, jsonPost('/api/v1/enroll', ENROLL_BODY));
    await rawRequest(edge.port, req('GET', '/api/v1/enroll/status?code=AX7K-PJ3F-TH2Q'));
    await new Promise((r) => setTimeout(r, 50));
    const lines = edge.logs.slice(before).filter((l) => l.msg === 'access');
    expect(lines).toHaveLength(2);
    const text = JSON.stringify(lines);
    expect(text).not.toContain('cek_test');
    expect(text).not.toContain('AX7K');
    expect(text).not.toContain('ssh-ed25519');
  });
});
