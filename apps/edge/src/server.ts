import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { ERROR_STATUS, errorEnvelope, type ErrorCode } from '@airlock/schema';
import { siteBucket } from '@airlock/lockouts';
import { buildTrustList, foldIp, isTrusted, resolveForwardedFor, throttleIdentity } from '@airlock/net';
import type { EdgeConfig } from './env.ts';
import { createLogger, loggable, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { createForwarder } from './proxy.ts';
import { isJsonContentType, screenRequest, type RouteId } from './screen.ts';
import { createThrottle, type EnrollFacts } from './throttle.ts';

export interface RunningEdge {
  port: number;
  metricsPort: number;
  /** Stops accepting, lets in-flight requests finish (up to the grace time), then closes. */
  close: () => Promise<void>;
  /** Re-reads EDGE_TLS_CERT/KEY for new connections; existing ones keep theirs. */
  reloadTls: () => Promise<boolean>;
}

export interface StartOptions {
  logger?: Logger;
}

/** Request headers the api may see from the client; everything else stays at the edge. */
const PASSED_HEADERS = ['content-type', 'authorization', 'user-agent', 'accept'] as const;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface ConnState {
  socket: Socket;
  ipKey: string;
  busy: number;
  served: number;
}

interface RequestLog {
  requestId: string;
  route: RouteId | 'refused' | 'unmatched';
  peer: string;
  ip: string;
  reason?: string;
  rule?: string;
  throttleKey?: string;
  upstreamMs?: number;
  bytesIn: number;
}

const connKey = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;

/**
 * Starts the public listener and the internal metrics listener.
 *
 * @example
 *   const edge = await startEdge(loadConfig(process.env));
 *   process.on('SIGTERM', () => void edge.close().then(() => process.exit(0)));
 */
export const startEdge = async (config: EdgeConfig, options: StartOptions = {}): Promise<RunningEdge> => {
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics();
  const trust = buildTrustList(config.trustedProxies);
  const throttle = createThrottle(config, logger, metrics);
  const forwarder = createForwarder(config.upstream, config.timeouts.upstreamMs);
  const t = config.timeouts;

  const serverOptions: http.ServerOptions = {
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    // Node only enforces the two timeouts above on this tick; its 30 s default
    // would let a slowloris hold a socket far past the configured limit.
    connectionsCheckingInterval: t.connectionsCheckMs,
    keepAliveTimeout: t.keepAliveMs,
    maxHeaderSize: config.maxHeaderBytes,
    // The screen refuses a missing Host itself, with the contract's envelope.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
    noDelay: true,
  };

  let server: http.Server | https.Server;
  if (config.tls) {
    const [cert, key] = await Promise.all([readFile(config.tls.certPath), readFile(config.tls.keyPath)]);
    server = https.createServer({ ...serverOptions, cert, key, minVersion: 'TLSv1.2', handshakeTimeout: t.headersMs });
  } else {
    logger.log('warn', 'EDGE_TLS_CERT/EDGE_TLS_KEY unset: serving plain HTTP; terminate TLS in front of the edge');
    server = http.createServer(serverOptions);
  }
  // Unlimited count here; the screen refuses more than 64, and maxHeaderSize bounds the bytes.
  server.maxHeadersCount = 0;
  server.maxRequestsPerSocket = config.maxRequestsPerSocket;
  server.keepAliveTimeout = t.keepAliveMs;

  let draining = false;

  // ---- connection cap per client IP -------------------------------------
  const conns = new Map<string, ConnState>();
  const byIp = new Map<string, Set<ConnState>>();
  const refusalLogged = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const peer = foldIp(socket.remoteAddress ?? '');
    // A trusted proxy carries many clients on its connections; capping it
    // would cap them all together. Its clients are throttled per request.
    const capped = !(config.trustedProxies.length > 0 && isTrusted(trust, peer));
    const ipKey = throttleIdentity(peer);
    let set = byIp.get(ipKey);
    if (!set) {
      set = new Set();
      byIp.set(ipKey, set);
    }
    if (capped && set.size >= config.limits.maxConnectionsPerIp) {
      // Prefer evicting an idle keep-alive connection of the same client: a
      // NAT full of agents should not be refused because of parked sockets.
      const idle = [...set].find((c) => c.busy === 0 && c.served > 0);
      if (idle) {
        set.delete(idle);
        idle.socket.destroy();
      } else {
        metrics.connectionsRefused.inc();
        // One line per client per 10 s: a connection flood must not become a log flood.
        const now = Date.now();
        if ((refusalLogged.get(ipKey) ?? 0) < now - 10_000) {
          refusalLogged.set(ipKey, now);
          if (refusalLogged.size > 10_000) refusalLogged.clear();
          logger.log('warn', 'connection refused: per-IP connection cap', {
            ip: ipKey,
            cap: config.limits.maxConnectionsPerIp,
          });
        }
        socket.destroy();
        return;
      }
    }
    const state: ConnState = { socket, ipKey, busy: 0, served: 0 };
    set.add(state);
    const key = connKey(socket);
    conns.set(key, state);
    metrics.connectionsOpen.inc();
    socket.once('close', () => {
      metrics.connectionsOpen.dec();
      conns.delete(key);
      const s = byIp.get(ipKey);
      s?.delete(state);
      if (s && s.size === 0) byIp.delete(ipKey);
    });
  });

  // ---- answers the edge gives itself ------------------------------------
  const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      'cache-control': 'no-store',
    });
    res.end(payload);
  };

  /** The single error path: every refusal the edge makes goes through here. */
  const sendError = (
    res: http.ServerResponse,
    code: ErrorCode,
    message: string,
    opts: { close?: boolean; headers?: http.OutgoingHttpHeaders } = {},
  ) => {
    if (res.destroyed || res.writableEnded) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, ERROR_STATUS[code], errorEnvelope(code, message), {
      ...(opts.headers ?? {}),
      ...(opts.close ? { connection: 'close' } : {}),
    });
  };

  /** Same envelope, written straight to a socket that never became a request. */
  const rawError = (socket: Socket, code: ErrorCode, message: string) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const payload = JSON.stringify(errorEnvelope(code, message));
    const reason = http.STATUS_CODES[ERROR_STATUS[code]] ?? 'Error';
    socket.end(
      `HTTP/1.1 ${ERROR_STATUS[code]} ${reason}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(payload)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${payload}`,
    );
    setTimeout(() => socket.destroy(), 1_000).unref();
  };

  const accessLog = (entry: RequestLog, req: http.IncomingMessage, res: http.ServerResponse, started: number) => {
    metrics.requests.inc({ route: entry.route, status: String(res.statusCode) });
    if (!config.accessLog) return;
    logger.log('info', 'access', {
      request_id: entry.requestId,
      method: loggable(req.method, 16),
      route: entry.route,
      status: res.statusCode,
      // Unmatched targets are never logged: a confused agent may put a code in a query string.
      ip: entry.ip,
      peer: entry.peer,
      ms: Math.round((performance.now() - started) * 10) / 10,
      upstream_ms: entry.upstreamMs === undefined ? undefined : Math.round(entry.upstreamMs * 10) / 10,
      bytes_in: entry.bytesIn,
      reason: entry.reason,
      rule: entry.rule,
      throttle_key: entry.throttleKey,
      completed: res.writableFinished,
      user_agent: loggable(req.rawHeaders.length <= 128 ? headerOf(req, 'user-agent') : undefined),
    });
  };

  const headerOf = (req: http.IncomingMessage, name: string): string | undefined => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : undefined;
  };

  const readBody = (req: http.IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'aborted'> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          req.pause();
          resolve('too_large');
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks, size)));
      req.on('error', () => resolve('aborted'));
      req.on('close', () => resolve('aborted'));
    });

  /** An unread body is never drained for a refused request: the connection is closed instead. */
  const hasBody = (req: http.IncomingMessage): boolean => {
    const length = req.headers['content-length'];
    return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  };

  const enrollFacts = (body: Buffer): EnrollFacts => {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      // Malformed JSON still goes to the api, which answers 400; it is throttled as a pairing-code try.
    }
    const obj = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    return {
      site: siteBucket(obj['site_code']),
      method: typeof obj['enrollment_key'] === 'string' ? 'key' : 'pairing',
    };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, entry: RequestLog) => {
    const peer = foldIp(req.socket.remoteAddress ?? '');
    entry.peer = peer;
    entry.ip = peer;
    const trustedPeer = config.trustedProxies.length > 0 && isTrusted(trust, peer);
    const screening = screenRequest(
      { method: req.method ?? '', target: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders },
      { trustedPeer },
    );
    if (!screening.ok) {
      entry.reason = screening.reason;
      entry.route = screening.code === 'not_found' ? 'unmatched' : 'refused';
      if (screening.code === 'not_found') {
        sendError(res, 'not_found', 'Not found', { close: hasBody(req) });
      } else {
        // Close, and drop anything already pipelined behind it: whatever
        // follows an ambiguous request on this socket is suspect too.
        poisoned.add(req.socket);
        sendError(res, 'invalid_request', `Request refused: ${screening.reason}`, { close: true });
      }
      return;
    }
    const { route, headers } = screening;
    entry.route = route.id;

    let clientIp = peer;
    let proto = config.tls ? 'https' : 'http';
    if (trustedPeer) {
      const xff = headers.get('x-forwarded-for');
      if (xff !== undefined) {
        const resolved = resolveForwardedFor(xff, trust);
        if (resolved === null) {
          entry.reason = 'malformed X-Forwarded-For';
          poisoned.add(req.socket);
          sendError(res, 'invalid_request', 'Request refused: malformed X-Forwarded-For', { close: true });
          return;
        }
        clientIp = resolved;
      }
      const xfp = headers.get('x-forwarded-proto');
      if (xfp === 'http' || xfp === 'https') proto = xfp;
      const rid = headers.get('x-request-id');
      if (rid !== undefined && REQUEST_ID.test(rid)) {
        entry.requestId = rid;
        res.setHeader('x-request-id', rid);
      }
    }
    entry.ip = clientIp;
    const ipKey = throttleIdentity(clientIp);

    if (route.id === 'healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    let body: Buffer | null = null;
    if (route.method === 'POST') {
      if (!isJsonContentType(headers.get('content-type'))) {
        sendError(res, 'unsupported_media_type', 'Request body must be application/json', { close: hasBody(req) });
        return;
      }
      const declared = Number(headers.get('content-length') ?? '0');
      if (declared > config.maxBodyBytes) {
        // Answer before reading any of it, and close: the rest is never read.
        entry.reason = 'declared body too large';
        sendError(res, 'payload_too_large', `Request body exceeds ${config.maxBodyBytes} bytes`, { close: true });
        return;
      }
      // Only now, with the request screened and the length acceptable, invite the body.
      if (expectsContinue.has(req)) res.writeContinue();
      const read = await readBody(req, config.maxBodyBytes);
      if (read === 'aborted') {
        entry.reason = 'client aborted body';
        return;
      }
      if (read === 'too_large') {
        sendError(res, 'payload_too_large', `Request body exceeds ${config.maxBodyBytes} bytes`, { close: true });
        return;
      }
      body = read;
      entry.bytesIn = read.length;
    }

    const throttled = route.id === 'enroll' || route.id === 'verify' || route.id === 'status' ? route.id : null;
    if (throttled === null) return;
    const facts = throttled === 'enroll' && body !== null ? enrollFacts(body) : throttled === 'enroll' ? enrollFacts(Buffer.alloc(0)) : null;

    const admission = await throttle.admit(throttled, ipKey, facts);
    if (!admission.ok) {
      entry.rule = admission.rule;
      entry.throttleKey = admission.key;
      if (admission.kind === 'lockout' || admission.kind === 'block') {
        logger.log('warn', admission.kind === 'lockout' ? 'refused: locked out' : 'refused: blocked', {
          key: admission.key,
          request_id: entry.requestId,
          retry_after: admission.retryAfterSeconds,
        });
      }
      const retry = { 'retry-after': String(admission.retryAfterSeconds) };
      if (admission.kind === 'error') {
        sendError(res, 'service_unavailable', 'Throttling unavailable; retry later', { headers: retry });
      } else {
        sendError(res, 'rate_limited', 'Too many requests; retry later', { headers: retry });
      }
      return;
    }
    if (config.rateLimitHeaders && admission.limit) {
      // draft-ietf-httpapi-ratelimit-headers (-06) field names.
      res.setHeader('ratelimit-limit', String(admission.limit.limit));
      res.setHeader('ratelimit-remaining', String(admission.limit.remaining));
      res.setHeader('ratelimit-reset', String(admission.limit.resetSeconds));
    }

    const outgoing: http.OutgoingHttpHeaders = {
      host: config.upstream.host,
      'x-forwarded-for': clientIp,
      'x-forwarded-proto': proto,
      'x-request-id': entry.requestId,
    };
    for (const name of PASSED_HEADERS) {
      const value = headers.get(name);
      if (value !== undefined) outgoing[name] = value;
    }
    if (body !== null) outgoing['content-length'] = String(body.length);

    const result = await forwarder.forward(req, res, route.target, outgoing, body);
    if (result.kind === 'client_gone') {
      entry.reason = result.reason;
      return;
    }
    if (result.kind !== 'response') {
      metrics.upstreamErrors.inc({ kind: result.kind });
      entry.reason = `upstream: ${result.reason}`;
      if (result.kind === 'gateway_timeout') {
        sendError(res, 'gateway_timeout', 'The enrollment service did not answer in time');
      } else {
        sendError(res, 'bad_gateway', 'The enrollment service is unavailable');
      }
      return;
    }
    entry.upstreamMs = result.upstreamMs;
    metrics.upstreamLatency.observe({ route: route.id }, result.upstreamMs / 1000);
    await throttle.recordOutcome(throttled, ipKey, facts, result.status);
    result.relay();
  };

  /** Sockets that sent a refused request; requests pipelined after it are never handled. */
  const poisoned = new WeakSet<Socket>();

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (poisoned.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    const started = performance.now();
    const entry: RequestLog = { requestId: randomUUID(), route: 'refused', peer: '', ip: '', bytesIn: 0 };
    res.setHeader('x-request-id', entry.requestId);
    const conn = conns.get(connKey(req.socket));
    if (conn) conn.busy += 1;
    // The access line waits for both the answer and our own bookkeeping, so
    // it carries the reason even when the client left early.
    let pending = 2;
    const done = () => {
      pending -= 1;
      if (pending === 0) accessLog(entry, req, res, started);
    };
    res.once('close', () => {
      if (conn) {
        conn.busy -= 1;
        conn.served += 1;
      }
      done();
    });
    if (draining) res.setHeader('connection', 'close');
    handle(req, res, entry)
      .catch((err: unknown) => {
        logger.log('error', 'request failed', {
          request_id: entry.requestId,
          reason: err instanceof Error ? err.message : 'unknown',
        });
        sendError(res, 'internal_error', 'Internal error');
      })
      .finally(done);
  });

  // Parser-level refusals (smuggling, obs-fold, bad methods, oversized or slow headers).
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    const code = err.code ?? 'unknown';
    const timeout = code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT';
    metrics.requests.inc({ route: 'refused', status: timeout ? '408' : '400' });
    if (config.accessLog) {
      logger.log('info', 'access', {
        route: 'refused',
        status: timeout ? 408 : 400,
        ip: foldIp(socket.remoteAddress ?? ''),
        reason: `parser: ${code}`,
      });
    }
    const conn = conns.get(connKey(socket));
    // A response is already under way on this socket: writing now would corrupt it.
    if (code === 'ECONNRESET' || (conn && conn.busy > 0)) {
      socket.destroy();
      return;
    }
    if (timeout) rawError(socket, 'request_timeout', 'Request not received in time');
    else rawError(socket, 'invalid_request', 'Request refused: malformed HTTP');
  });

  // Node would send `100 Continue` before we saw the request; we send it only for a body we will read.
  const expectsContinue = new WeakSet<http.IncomingMessage>();
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    expectsContinue.add(req);
    server.emit('request', req, res);
  });

  // Node answers unknown expectations with a bare 417; answer with the envelope instead.
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    poisoned.add(req.socket);
    metrics.requests.inc({ route: 'refused', status: '400' });
    sendError(res, 'invalid_request', 'Request refused: unsupported Expect', { close: true });
  });

  // Upgrades and CONNECT never become requests; answer them as the refusals they are.
  server.on('upgrade', (_req: http.IncomingMessage, socket: Socket) => {
    metrics.requests.inc({ route: 'refused', status: '400' });
    rawError(socket, 'invalid_request', 'Request refused: protocol upgrade');
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
    metrics.requests.inc({ route: 'refused', status: '400' });
    rawError(socket, 'invalid_request', 'Request refused: CONNECT');
  });
  if (config.tls) {
    server.on('tlsClientError', (err: Error & { code?: string }, socket: Socket) => {
      logger.log('info', 'tls handshake failed', { ip: foldIp(socket.remoteAddress ?? ''), reason: err.code ?? err.message });
    });
  }

  // ---- metrics listener (internal) --------------------------------------
  const metricsServer = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        })
        .catch(() => sendError(res, 'internal_error', 'Internal error'));
      return;
    }
    sendError(res, 'not_found', 'Not found');
  });

  const listen = (s: http.Server, port: number, host: string) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        resolve((s.address() as AddressInfo).port);
      });
    });
  // Counters taken in memory before Redis answers would not be shared; wait briefly.
  await throttle.waitForRedis(2_000);
  const port = await listen(server, config.port, config.host);
  const metricsPort = await listen(metricsServer, config.metricsPort, config.metricsHost);
  logger.log('info', 'edge listening', {
    host: config.host,
    port,
    tls: config.tls !== null,
    metrics_host: config.metricsHost,
    metrics_port: metricsPort,
    upstream: config.upstream.origin,
    redis: config.redis !== null,
  });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      logger.log('info', 'edge draining', { grace_ms: t.shutdownGraceMs });
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Keep-alive sockets turn idle after their in-flight answer; close them as they do.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      const grace = new Promise<void>((resolve) => setTimeout(resolve, t.shutdownGraceMs).unref());
      await Promise.race([closed, grace]);
      clearInterval(sweep);
      server.closeAllConnections();
      await closed;
      await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      metricsServer.closeAllConnections();
      forwarder.close();
      await throttle.close();
      logger.log('info', 'edge stopped');
    })();
    return closing;
  };

  const reloadTls = async (): Promise<boolean> => {
    if (!config.tls || !(server instanceof https.Server)) return false;
    try {
      const [cert, key] = await Promise.all([readFile(config.tls.certPath), readFile(config.tls.keyPath)]);
      // Build once to validate: a bad pair must not replace a working one.
      createSecureContext({ cert, key });
      server.setSecureContext({ cert, key, minVersion: 'TLSv1.2' });
      logger.log('info', 'tls certificate reloaded');
      return true;
    } catch (err) {
      logger.log('error', 'tls reload failed; keeping the previous certificate', {
        reason: err instanceof Error ? err.message : 'unknown',
      });
      return false;
    }
  };

  return { port, metricsPort, close, reloadTls };
};
