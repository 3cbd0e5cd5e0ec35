import { randomUUID } from 'node:crypto';
import { errorEnvelope } from '@airlock/schema';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { recordRefusal } from '../domain/refusals.ts';
import type { Deps } from '../domain/deps.ts';
import { isConsolePath, registerConsole, renderConsoleError } from '../console/index.tsx';
import { ApiError } from '../errors.ts';
import { isDatabaseUnavailable, isTransactionConflict } from '../db/unavailable.ts';
import { registerAdminRoutes } from '../routes/admin/index.ts';
import { registerDocsRoutes } from '../routes/docs.ts';
import { registerHealthRoutes, registerLivenessRoute } from '../routes/health.ts';
import { registerInternalRoutes } from '../routes/internal/agent-keys.ts';
import { registerPublicRoutes } from '../routes/public/index.ts';
import { registerTunnelRoutes } from '../routes/internal/tunnel.ts';
import { MAX_BODY_BYTES } from './body.ts';
import { checkResponses } from './response-check.ts';
import { resolveClient } from './client-ip.ts';
import { isAllowedHost } from './host.ts';
import type { AppEnv } from './context.ts';

/**
 * A loggable description of an unexpected error. Query errors carry their SQL
 * parameters in the message; only the driver's own cause is kept, so nothing
 * a client sent ends up in the log.
 */
const describeError = (err: unknown): string => {
  if (!(err instanceof Error)) return 'unknown';
  const cause = err.cause;
  if (cause instanceof Error) return `${err.name}: ${cause.name}: ${cause.message}`;
  return `${err.name}: ${err.message.split('\n')[0]?.slice(0, 200) ?? ''}`;
};

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** Node joins repeated headers except a few; an array means a repeated one we refuse to guess at. */
const single = (value: string | string[] | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

export interface AppOptions {
  /** Database reachable and migrated, for /readyz. */
  isReady?: () => Promise<boolean>;
  /**
   * Tests only: hold every answer to the route table (http/response-check.ts);
   * each mismatch is reported here and answered 500. Off in production.
   */
  checkResponses?: (problem: string) => void;
}

/** Builds the api: every route registered by hand, one error path, one log line per request. */
export const createApp = (deps: Deps, opts: AppOptions = {}): Hono<AppEnv> => {
  const app = new Hono<AppEnv>();
  // First, so it sees every answer as sent: the Host refusal, liveness and onError's envelopes included.
  if (opts.checkResponses) app.use('*', checkResponses(opts.checkResponses));

  // The Host allowlist comes first, before any route (liveness included) and any
  // console page: a DNS-rebinding page must meet nothing but the refusal (issue 18).
  // Verdicts are remembered per Host value (bounded): a handful of values recur.
  const hostVerdicts = new Map<string, boolean>();
  app.use('*', async (c, next) => {
    const host = single(c.env?.incoming?.headers?.host);
    if (host === undefined) return next();
    let ok = hostVerdicts.get(host);
    if (ok === undefined) {
      ok = isAllowedHost(host, deps.config.allowedHosts);
      if (hostVerdicts.size >= 256) hostVerdicts.clear();
      hostVerdicts.set(host, ok);
    }
    if (!ok) {
      deps.metrics?.refusal('misdirected_request');
      // Counted per (source IP, kind, minute), never a row each: the request concerns nothing real.
      const headers = c.env?.incoming?.headers ?? {};
      const { ip } = resolveClient(c.env?.incoming?.socket?.remoteAddress, single(headers['x-forwarded-for']), deps.config.trustedProxies);
      const client = { ip, userAgent: null, requestId: randomUUID() };
      await recordRefusal(deps, client, 'anonymous', false, { eventType: 'http.misdirected', anonymous: true }, 'misdirected_request').catch(
        (err: unknown) => deps.logger.error('audit write failed', { error: describeError(err) }),
      );
      return c.json(errorEnvelope('misdirected_request', 'This server does not answer to that host name'), 421);
    }
    return next();
  });

  // Liveness is answered before the middleware chain: probed constantly (the
  // edge, load balancers, orchestrators), it needs no client address, request
  // id, log line or metrics sample, and with them it cost ~half of a bare
  // Hono app's throughput. Hono runs matching handlers in registration order,
  // and this one answers without calling next().
  registerLivenessRoute(app);

  app.use('*', async (c, next) => {
    const started = performance.now();
    // Request headers straight from Node's parsed message: c.req.header() would
    // build a WHATWG Headers object per request, a measurable share of a cheap route.
    const headers = c.env?.incoming?.headers ?? {};
    const { ip, trustedPeer } = resolveClient(c.env?.incoming?.socket?.remoteAddress, single(headers['x-forwarded-for']), deps.config.trustedProxies);
    // A request id from the edge is kept so one id follows a request across both logs.
    const offered = single(headers['x-request-id']);
    const requestId = offered && REQUEST_ID.test(offered) && trustedPeer ? offered : randomUUID();
    const ua = single(headers['user-agent']);
    c.set('client', { ip, userAgent: ua ? ua.slice(0, 256).replace(/[^\x20-\x7e]/g, '?') : null, requestId });
    // Set before the handler runs, so every response made from this context
    // (errors and 404 included) carries them without rebuilding the response.
    c.header('x-request-id', requestId);
    c.header('cache-control', 'no-store');
    c.header('x-content-type-options', 'nosniff');
    try {
      await next();
    } finally {
      deps.metrics?.request(c.req.method, c.req.routePath, c.res.status, (performance.now() - started) / 1000);
      deps.logger.info('request', {
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        request_id: requestId,
        client_ip: ip,
      });
    }
  });

  // Streams are cut at 16 KiB even without a Content-Length (chunked bodies).
  // GET and HEAD carry no body we read; skipping them spares building a full
  // Request object on every poll and health check.
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError('payload_too_large', 'The body is larger than 16 KiB');
    },
  });
  app.use('*', (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    // A declared length is checked up front from Node's parsed headers: the
    // body-limit middleware would first build a full WHATWG Request (headers
    // and a body stream) just to read the same number. Only a body without a
    // Content-Length (chunked) needs its stream counted.
    const headers = c.env?.incoming?.headers;
    if (headers && headers['transfer-encoding'] === undefined) {
      const declared = single(headers['content-length']);
      if (declared === undefined) return next();
      // Node's parser has already refused a malformed or repeated Content-Length (400).
      if (Number(declared) > MAX_BODY_BYTES) throw new ApiError('payload_too_large', 'The body is larger than 16 KiB');
      return next();
    }
    return limitBody(c, next);
  });

  registerHealthRoutes(app, opts.isReady);
  registerPublicRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerInternalRoutes(app, deps);
  // Operator console (HTML, cookie sessions); the edge never forwards /console.
  registerConsole(app, deps);
  // Tunnel endpoint routes; behind the /api/v1/internal/* guard registered just above.
  registerTunnelRoutes(app, deps);
  registerDocsRoutes(app, deps);

  app.notFound((c) => c.json(errorEnvelope('not_found', 'Not found'), 404));

  app.onError(async (err, c) => {
    const client = c.get('client');
    if (err instanceof ApiError) {
      deps.metrics?.refusal(err.code);
      if (err.extra.audit) {
        const operator = c.get('operator');
        const actor = operator?.name ?? (c.req.path.startsWith('/api/v1/enroll') || c.req.path.startsWith('/api/v1/agent/') ? 'agent' : 'anonymous');
        await recordRefusal(deps, client ?? null, actor, operator !== undefined, err.extra.audit, err.code).catch((auditErr: unknown) =>
          deps.logger.error('audit write failed', { error: auditErr instanceof Error ? auditErr.message : 'unknown' }),
        );
      }
      if (err.extra.retryAfterSeconds !== undefined) c.header('retry-after', String(err.extra.retryAfterSeconds));
      if (isConsolePath(c.req.path)) return renderConsoleError(c, deps, err);
      return c.json(errorEnvelope(err.code, err.message, err.extra.fields), err.status as ContentfulStatusCode);
    }
    // Postgres restarting, failing over or refusing connections: an outage
    // of a dependency, answered 503 so clients retry (issue 13). The pool
    // reconnects on the next query; nothing here needs a restart.
    if (isDatabaseUnavailable(err)) {
      deps.logger.warn('database unavailable', { request_id: client?.requestId, error: describeError(err) });
      c.header('retry-after', '5');
      return c.json(errorEnvelope('service_unavailable', 'Service temporarily unavailable; retry later'), 503);
    }
    // A deadlock or serialisation failure rolled the whole transaction back:
    // nothing changed, and the same request again can succeed.
    if (isTransactionConflict(err)) {
      deps.logger.warn('transaction conflict; rolled back, client asked to retry', { request_id: client?.requestId, error: describeError(err) });
      deps.metrics?.refusal('service_unavailable');
      c.header('retry-after', '1');
      return c.json(errorEnvelope('service_unavailable', 'Service temporarily unavailable; retry later'), 503);
    }
    // Malformed framing Hono itself rejects (e.g. a bad JSON parse deep in a library) lands here too.
    deps.logger.error('unhandled error', {
      request_id: client?.requestId,
      error: describeError(err),
    });
    deps.metrics?.refusal('internal_error');
    if (isConsolePath(c.req.path)) return renderConsoleError(c, deps, err);
    return c.json(errorEnvelope('internal_error', 'Internal error'), 500);
  });

  return app;
};
