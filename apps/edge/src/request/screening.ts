import { foldIp, isTrusted, resolveForwardedFor, throttleIdentities } from '@airlock/net';
import type { EdgeContext, Exchange } from '../context.ts';
import { hasBody } from '../body.ts';
import { sendError } from '../respond.ts';
import { screenRequest, type ROUTES } from '../screen.ts';

export interface Screened {
  route: (typeof ROUTES)[number];
  headers: ReadonlyMap<string, string>;
  trustedPeer: boolean;
}

export interface Client {
  ip: string;
  /** throttleIdentities(ip): the address, or an IPv6 /64, /56 and /48. */
  ids: string[];
  proto: 'http' | 'https';
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Step 1: the exact allowlist and header rules (screen.ts); refusals answered here. */
export const screenStep = (edge: EdgeContext, ex: Exchange): Screened | null => {
  const { req, res } = ex;
  const peer = foldIp(req.socket.remoteAddress ?? '');
  ex.peer = peer;
  ex.ip = peer;
  const trustedPeer = edge.hasTrustedProxies && isTrusted(edge.trust, peer);
  const screening = screenRequest(
    { method: req.method ?? '', target: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders },
    { trustedPeer },
  );
  if (screening.ok) {
    ex.route = screening.route.id;
    return { route: screening.route, headers: screening.headers, trustedPeer };
  }
  ex.reason = screening.reason;
  if (screening.code === 'not_found') {
    ex.route = 'unmatched';
    sendError(res, 'not_found', 'Not found', hasBody(req));
  } else {
    // Close, and drop anything already pipelined behind it: whatever
    // follows an ambiguous request on this socket is suspect too.
    edge.poisoned.add(req.socket);
    sendError(res, 'invalid_request', `Request refused: ${screening.reason}`, true);
  }
  return null;
};

/** Step 2: who the client is (the peer, or X-Forwarded-For from a trusted proxy). */
export const identifyStep = (edge: EdgeContext, ex: Exchange, s: Screened): Client | null => {
  let ip = ex.peer;
  let proto: Client['proto'] = edge.config.tls ? 'https' : 'http';
  if (s.trustedPeer) {
    const xff = s.headers.get('x-forwarded-for');
    if (xff !== undefined) {
      const resolved = resolveForwardedFor(xff, edge.trust);
      if (resolved === null) {
        ex.reason = 'malformed X-Forwarded-For';
        edge.poisoned.add(ex.req.socket);
        sendError(ex.res, 'invalid_request', 'Request refused: malformed X-Forwarded-For', true);
        return null;
      }
      ip = resolved;
    }
    const xfp = s.headers.get('x-forwarded-proto');
    if (xfp === 'http' || xfp === 'https') proto = xfp;
    const rid = s.headers.get('x-request-id');
    if (rid !== undefined && REQUEST_ID.test(rid)) {
      ex.requestId = rid;
      ex.res.setHeader('x-request-id', rid);
    }
  }
  ex.ip = ip;
  return { ip, ids: throttleIdentities(ip), proto };
};
