/**
 * Request screening: pure functions that decide, from the raw request line and
 * raw header list alone, whether a request may go further. The edge refuses
 * anything two parsers could read differently, because the api behind it (and
 * any proxy in front of it) may resolve such ambiguity another way.
 */

import { ROUTES as WIRE_ROUTES, type PublicOperationId } from '@airlock/schema';

/**
 * The edge's name for each public route (metrics label, throttle budget).
 * Typed over every public route of the table: a new public route in
 * @airlock/schema does not compile here until the edge names it (and
 * throttle/plan.ts then gives it a budget).
 */
const EDGE_NAMES = {
  enroll: 'enroll',
  verifyEnrollment: 'verify',
  enrollmentStatus: 'status',
  agentChallenge: 'agent_challenge',
  agentCredentials: 'agent_credentials',
} as const satisfies Record<PublicOperationId, string>;

export type RouteId = (typeof EDGE_NAMES)[PublicOperationId] | 'healthz';

interface RouteEntry {
  method: 'GET' | 'POST';
  target: string;
  id: RouteId;
  forwarded: boolean;
}

/**
 * The contract's public routes, from the route table (@airlock/schema), plus
 * the edge's own health check. A public route has no path parameters: its
 * target is matched byte for byte.
 */
export const ROUTES: readonly RouteEntry[] = [
  ...(Object.keys(EDGE_NAMES) as PublicOperationId[]).map((op): RouteEntry => {
    const r = WIRE_ROUTES[op];
    if (r.path.includes(':')) throw new Error(`public route ${op} has a path parameter; the edge matches targets byte for byte`);
    // Only GET and POST reach this far (screenRequest); a public route with another method does not compile.
    return { method: ({ get: 'GET', post: 'POST' } as const)[r.method], target: r.path, id: EDGE_NAMES[op], forwarded: true };
  }),
  { method: 'GET', target: '/healthz', id: 'healthz', forwarded: false },
];

export interface RawRequest {
  method: string;
  /** The request target exactly as received (Node's `req.url`). */
  target: string;
  httpVersion: string;
  /** Node's `req.rawHeaders`: name, value, name, value… with duplicates kept. */
  rawHeaders: readonly string[];
}

export type Screening =
  | { ok: true; route: RouteEntry; headers: ReadonlyMap<string, string> }
  | { ok: false; code: 'invalid_request' | 'not_found'; reason: string };

const MAX_TARGET_LENGTH = 256;
const MAX_HEADER_COUNT = 64;

/** Only these characters may appear in a target; everything else (%, \, ;, ?, #, …) is a trick or a query. */
const PLAIN_TARGET = /^\/[A-Za-z0-9._~/-]*$/;

/** RFC 9110 token characters, for header names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Visible ASCII, space and tab only: no controls, no obs-text. */
const SAFE_VALUE = /^[\t\x20-\x7e]*$/;

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** Hop-by-hop or framing headers a client has no business sending to this edge. */
const HOP_BY_HOP = new Set([
  'upgrade',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'http2-settings',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** Headers that ask a server to treat the request as another method or path. */
const OVERRIDES = new Set([
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-method',
  'x-original-url',
  'x-rewrite-url',
]);

/** Headers only a trusted proxy may send; from anyone else they are spoofing attempts. */
const FORWARDING = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'client-ip',
  'x-request-id',
  'x-correlation-id',
  'via',
]);

const refuse = (reason: string): Screening => ({ ok: false, code: 'invalid_request', reason });

/**
 * Checks the request target's shape. Returns a refusal reason, or null when
 * the target is a plain origin-form path.
 *
 * @example
 *   targetProblem('/api/v1/./enroll'); // 'dot segment in path'
 */
export const targetProblem = (target: string): string | null => {
  if (target.length > MAX_TARGET_LENGTH) return 'request target too long';
  if (!target.startsWith('/')) return 'request target is not origin-form';
  if (!PLAIN_TARGET.test(target)) return 'unusual character in request target';
  if (target === '/') return null;
  for (const segment of target.slice(1).split('/')) {
    if (segment === '') return 'empty path segment';
    if (segment === '.' || segment === '..') return 'dot segment in path';
  }
  return null;
};

/**
 * Screens one request. `trustedPeer` is whether the socket peer is inside
 * EDGE_TRUSTED_PROXIES; only then are forwarding headers accepted.
 *
 * @example
 *   screenRequest({ method: 'GET', target: '/healthz', httpVersion: '1.1',
 *     rawHeaders: ['Host', 'edge'] }, { trustedPeer: false }).ok; // true
 */
export const screenRequest = (req: RawRequest, opts: { trustedPeer: boolean }): Screening => {
  if (req.method !== 'GET' && req.method !== 'POST') return refuse('method not accepted');
  // HTTP/1.0 framing (body until close, optional Host) is an ambiguity we do not need.
  if (req.httpVersion !== '1.1') return refuse('only HTTP/1.1 is accepted');

  const problem = targetProblem(req.target);
  if (problem) return refuse(problem);

  if (req.rawHeaders.length % 2 !== 0) return refuse('malformed header list');
  if (req.rawHeaders.length / 2 > MAX_HEADER_COUNT) return refuse('too many headers');
  const headers = new Map<string, string>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const rawName = req.rawHeaders[i] ?? '';
    const value = req.rawHeaders[i + 1] ?? '';
    const name = rawName.toLowerCase();
    if (!TOKEN.test(rawName)) return refuse('malformed header name');
    if (!SAFE_VALUE.test(value)) return refuse('unusual character in header value');
    // Two copies of any header can be read as first-wins, last-wins or joined.
    if (headers.has(name)) return refuse('duplicated header');
    if (HOP_BY_HOP.has(name)) return refuse('hop-by-hop or framing header');
    if (OVERRIDES.has(name)) return refuse('method or path override header');
    if (FORWARDING.has(name) && !opts.trustedPeer) return refuse('forwarding header from untrusted peer');
    headers.set(name, value.trim());
  }

  const host = headers.get('host');
  if (host === undefined || !HOST.test(host)) return refuse('missing or malformed Host');

  const connection = headers.get('connection');
  if (connection !== undefined && !/^(?:keep-alive|close)$/i.test(connection)) {
    // Any other token names a header to strip, or asks for an upgrade.
    return refuse('Connection names other headers');
  }

  const expect = headers.get('expect');
  if (expect !== undefined && expect.toLowerCase() !== '100-continue') return refuse('unsupported Expect');

  const length = headers.get('content-length');
  if (length !== undefined && !/^[0-9]{1,9}$/.test(length)) return refuse('malformed Content-Length');
  if (req.method === 'GET' && length !== undefined && Number(length) !== 0) {
    return refuse('GET with a body');
  }

  const route = ROUTES.find((r) => r.target === req.target && r.method === req.method);
  if (route) return { ok: true, route, headers };

  // A case variant of a public path is a probe for a case-insensitive backend.
  const lower = req.target.toLowerCase();
  if (ROUTES.some((r) => r.target !== req.target && r.target === lower)) {
    return refuse('case variant of a public route');
  }
  return { ok: false, code: 'not_found', reason: 'no such route' };
};

/**
 * True for `application/json`, optionally with a UTF-8 charset parameter.
 *
 * @example
 *   isJsonContentType('application/json; charset=utf-8'); // true
 */
export const isJsonContentType = (value: string | undefined): boolean =>
  value !== undefined && /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i.test(value);
