import { describe, expect, it } from 'vitest';
import { ROUTE_LIST } from '@airlock/schema';
import { isJsonContentType, ROUTES, screenRequest, targetProblem, type RawRequest } from './screen.ts';

const base: RawRequest = {
  method: 'POST',
  target: '/api/v1/enroll',
  httpVersion: '1.1',
  rawHeaders: ['Host', 'edge.example', 'Content-Type', 'application/json', 'Content-Length', '2'],
};
const screen = (over: Partial<RawRequest>, trustedPeer = false) => screenRequest({ ...base, ...over }, { trustedPeer });
const reason = (over: Partial<RawRequest>, trustedPeer = false) => {
  const s = screen(over, trustedPeer);
  return s.ok ? 'ok' : `${s.code}: ${s.reason}`;
};

describe('targetProblem', () => {
  it.each([
    ['/api/v1/enroll', null],
    ['/', null],
    ['/api/v1/enroll/', 'empty path segment'],
    ['/api//v1', 'empty path segment'],
    ['/api/./v1', 'dot segment in path'],
    ['/api/../v1', 'dot segment in path'],
    ['/api/%2e', 'unusual character in request target'],
    ['/api\\v1', 'unusual character in request target'],
    ['/api;v=1', 'unusual character in request target'],
    ['/api?x', 'unusual character in request target'],
    ['/api#x', 'unusual character in request target'],
    ['/caf\u00e9', 'unusual character in request target'],
    ['*', 'request target is not origin-form'],
    ['http://x/api', 'request target is not origin-form'],
    [`/${'a'.repeat(300)}`, 'request target too long'],
  ])('%s -> %s', (target, expected) => {
    expect(targetProblem(target)).toBe(expected);
  });
});

describe('the allowlist', () => {
  it('is the route table\'s public routes, plus the edge\'s own /healthz, and nothing else', () => {
    const fromTable = ROUTE_LIST.filter((r) => r.area === 'public').map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(fromTable.length).toBeGreaterThanOrEqual(5);
    expect(ROUTES.filter((r) => r.forwarded).map((r) => `${r.method} ${r.target}`)).toEqual(fromTable);
    expect(ROUTES.filter((r) => !r.forwarded).map((r) => `${r.method} ${r.target}`)).toEqual(['GET /healthz']);
  });

  it('refuses every admin, internal and docs route of the table as not_found', () => {
    for (const r of ROUTE_LIST.filter((x) => x.area !== 'public' && x.area !== 'health')) {
      const target = r.path.replace(/:[A-Za-z_]+/g, 'x');
      const method = r.method.toUpperCase();
      const s = screenRequest({ ...base, method, target, rawHeaders: ['Host', 'e'] }, { trustedPeer: false });
      // A method the edge never forwards (DELETE, PATCH) is refused before the path is looked at.
      expect(s.ok ? 'ok' : `${s.code}`, `${method} ${target}`).toBe(method === 'GET' || method === 'POST' ? 'not_found' : 'invalid_request');
    }
  });
});

describe('screenRequest', () => {
  it('accepts each public route byte for byte', () => {
    expect(reason({})).toBe('ok');
    expect(reason({ target: '/api/v1/enroll/verify' })).toBe('ok');
    expect(reason({ method: 'GET', target: '/api/v1/enroll/status', rawHeaders: ['Host', 'e'] })).toBe('ok');
    expect(reason({ method: 'GET', target: '/healthz', rawHeaders: ['Host', 'e'] })).toBe('ok');
  });

  it('answers not_found for plain unknown paths and wrong methods on known ones', () => {
    expect(reason({ target: '/api/v1/admin/sites' })).toBe('not_found: no such route');
    expect(reason({ method: 'GET', rawHeaders: ['Host', 'e'] })).toBe('not_found: no such route');
  });

  it('refuses case variants of public paths as probes', () => {
    expect(reason({ target: '/API/V1/ENROLL' })).toBe('invalid_request: case variant of a public route');
  });

  it('refuses unusual methods and versions', () => {
    expect(reason({ method: 'PUT' })).toBe('invalid_request: method not accepted');
    expect(reason({ method: 'HEAD' })).toBe('invalid_request: method not accepted');
    expect(reason({ httpVersion: '1.0' })).toBe('invalid_request: only HTTP/1.1 is accepted');
  });

  it('refuses duplicated headers of any name, in any case', () => {
    expect(reason({ rawHeaders: [...base.rawHeaders, 'host', 'other'] })).toBe('invalid_request: duplicated header');
    expect(reason({ rawHeaders: [...base.rawHeaders, 'X-A', '1', 'x-a', '1'] })).toBe('invalid_request: duplicated header');
  });

  it('refuses hop-by-hop, override and framing headers', () => {
    for (const name of ['Transfer-Encoding', 'TE', 'Upgrade', 'Proxy-Connection', 'Keep-Alive', 'Trailer']) {
      expect(reason({ rawHeaders: [...base.rawHeaders, name, 'x'] })).toBe('invalid_request: hop-by-hop or framing header');
    }
    expect(reason({ rawHeaders: [...base.rawHeaders, 'X-HTTP-Method-Override', 'GET'] })).toBe(
      'invalid_request: method or path override header',
    );
    expect(reason({ rawHeaders: [...base.rawHeaders, 'Connection', 'close, X-Foo'] })).toBe(
      'invalid_request: Connection names other headers',
    );
    expect(reason({ rawHeaders: [...base.rawHeaders, 'Connection', 'Keep-Alive'] })).toBe('ok');
  });

  it('accepts forwarding headers only from a trusted peer', () => {
    const withXff = { rawHeaders: [...base.rawHeaders, 'X-Forwarded-For', '1.2.3.4'] };
    expect(reason(withXff)).toBe('invalid_request: forwarding header from untrusted peer');
    expect(reason(withXff, true)).toBe('ok');
    expect(reason({ rawHeaders: [...base.rawHeaders, 'X-Real-IP', '1.2.3.4'] })).toBe(
      'invalid_request: forwarding header from untrusted peer',
    );
  });

  it('refuses a missing or malformed Host and odd header bytes', () => {
    expect(reason({ rawHeaders: ['Content-Type', 'application/json'] })).toBe('invalid_request: missing or malformed Host');
    expect(reason({ rawHeaders: ['Host', 'a b'] })).toBe('invalid_request: missing or malformed Host');
    expect(reason({ rawHeaders: ['Host', '[::1]:443'] })).toBe('ok');
    expect(reason({ rawHeaders: ['Host', 'e', 'User-Agent', 'a\u0000b'] })).toBe(
      'invalid_request: unusual character in header value',
    );
  });

  it('refuses a GET with a body and more than 64 headers', () => {
    expect(reason({ method: 'GET', target: '/healthz', rawHeaders: ['Host', 'e', 'Content-Length', '5'] })).toBe(
      'invalid_request: GET with a body',
    );
    const many = Array.from({ length: 70 }, (_, i) => [`X-H${i}`, '1']).flat();
    expect(reason({ rawHeaders: ['Host', 'e', ...many] })).toBe('invalid_request: too many headers');
  });
});

describe('isJsonContentType', () => {
  it.each([
    ['application/json', true],
    ['Application/JSON', true],
    ['application/json; charset=utf-8', true],
    ['application/json;charset="UTF-8"', true],
    ['application/json; charset=latin1', false],
    ['application/jsonp', false],
    ['text/json', false],
    [undefined, false],
  ])('%s -> %s', (value, expected) => {
    expect(isJsonContentType(value)).toBe(expected);
  });
});

describe('agent routes and the console (v1.1)', () => {
  it('accepts exactly POST on the two agent routes', () => {
    expect(reason({ target: '/api/v1/agent/challenge' })).toBe('ok');
    expect(reason({ target: '/api/v1/agent/credentials' })).toBe('ok');
    expect(reason({ method: 'GET', target: '/api/v1/agent/challenge', rawHeaders: ['Host', 'e'] })).toBe('not_found: no such route');
    expect(reason({ target: '/api/v1/agent' })).toBe('not_found: no such route');
    expect(reason({ target: '/api/v1/agent/credentials/' })).toBe('invalid_request: empty path segment');
    expect(reason({ target: '/api/v1/Agent/challenge' })).toBe('invalid_request: case variant of a public route');
  });

  it('never matches the operator console', () => {
    for (const target of ['/console', '/console/login', '/console/api/session', '/console/assets/app.js']) {
      expect(reason({ method: 'GET', target, rawHeaders: ['Host', 'e'] })).toBe('not_found: no such route');
      expect(reason({ target })).toBe('not_found: no such route');
    }
  });
});
