import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { AggregatorRegistry } from 'prom-client';
import { buildTrustList } from '@airlock/net';
import { accessLog } from './access-log.ts';
import { enforceConnectionCap, type ConnLookup } from './connections.ts';
import { Exchange, type EdgeContext } from './context.ts';
import type { EdgeConfig } from './env.ts';
import { createListener, stopAccepting } from './listener.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { createMetricsServer } from './metrics-server.ts';
import { handleRequest } from './pipeline.ts';
import { refuseProtocolAbuse } from './protocol-refusals.ts';
import { createForwarder } from './proxy.ts';
import { createFailFastRedisClient as createRedisClient } from '@airlock/lockouts';
import { createRefusalLog } from './refusal-log.ts';
import { sendError } from './respond.ts';
import { createThrottle } from './throttle/index.ts';
import { createLockoutReporter } from './lockout-reports.ts';
import { startDemux, type SshDemuxConfig } from './demux.ts';

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
  /** false in a cluster worker: the primary serves the workers' metrics, aggregated. */
  serveMetrics?: boolean;
  /** SSH demux (EDGE_SSH_UPSTREAM): SSH and HTTPS on one port; see demux.ts. */
  sshDemux?: SshDemuxConfig | null;
}

const EXCHANGE = Symbol('airlock.exchange');
type Tagged = http.ServerResponse & { [EXCHANGE]?: Exchange; [CONTEXT]?: Served };
const CONTEXT = Symbol('airlock.context');

interface Served {
  edge: EdgeContext;
  connOf: ConnLookup;
}

/** One access line once both the answer is closed and our bookkeeping is done. */
const settle = (served: Served, ex: Exchange): void => {
  ex.pending -= 1;
  if (ex.pending === 0) accessLog(served.edge, ex);
};

// Module-level listeners, not per-request closures: the request path allocates little.
function onResponseClose(this: Tagged): void {
  const ex = this[EXCHANGE];
  const served = this[CONTEXT];
  if (ex === undefined || served === undefined) return;
  const conn = served.connOf(ex.req.socket);
  if (conn) {
    conn.busy -= 1;
    conn.served += 1;
  }
  settle(served, ex);
}

const failed = (served: Served, ex: Exchange, err: unknown): void => {
  served.edge.logger.log('error', 'request failed', {
    request_id: ex.requestId,
    reason: err instanceof Error ? err.message : 'unknown',
  });
  sendError(ex.res, 'internal_error', 'Internal error');
};

/** Handles one request; settles it at once when nothing had to wait (pipeline.ts). */
const serve = (served: Served, ex: Exchange): void => {
  let pending: Promise<void> | undefined;
  try {
    pending = handleRequest(served.edge, ex);
  } catch (err) {
    failed(served, ex, err);
  }
  if (pending === undefined) {
    settle(served, ex);
    return;
  }
  pending.then(
    () => settle(served, ex),
    (err: unknown) => {
      failed(served, ex, err);
      settle(served, ex);
    },
  );
};

const serveAfterClose = async (served: Served, ex: Exchange, closing: Promise<unknown>): Promise<void> => {
  await closing;
  serve(served, ex);
};

const onRequest = (served: Served, req: http.IncomingMessage, res: http.ServerResponse): void => {
  if (served.edge.poisoned.has(req.socket)) {
    req.socket.destroy();
    return;
  }
  const ex = new Exchange(req, res, performance.now(), randomUUID());
  res.setHeader('x-request-id', ex.requestId);
  const conn = served.connOf(req.socket);
  if (conn) conn.busy += 1;
  const tagged = res as Tagged;
  tagged[EXCHANGE] = ex;
  tagged[CONTEXT] = served;
  res.once('close', onResponseClose);
  // Requests per connection (EDGE_MAX_REQUESTS_PER_SOCKET), counted here rather
  // than by Node's server.maxRequestsPerSocket, which answers a client that
  // ignores `Connection: close` with a bare 503 instead of the envelope.
  const nth = conn === undefined ? 1 : conn.served + conn.busy;
  const limit = served.edge.config.maxRequestsPerSocket;
  if (nth > limit) {
    ex.reason = 'requests per connection exceeded';
    sendError(res, 'service_unavailable', 'Too many requests on one connection; open a new one', true, 1);
    settle(served, ex);
    return;
  }
  if (served.edge.draining || nth === limit) res.setHeader('connection', 'close');
  const closing = served.edge.listenerClosing;
  if (closing === null) serve(served, ex);
  else void serveAfterClose(served, ex, closing);
};

const listen = (s: http.Server, port: number, host: string) =>
  new Promise<number>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      resolve((s.address() as AddressInfo).port);
    });
  });

/**
 * Starts the public listener and the internal metrics listener. The request
 * path itself is pipeline.ts.
 *
 * @example
 *   const edge = await startEdge(loadConfig(process.env));
 *   process.on('SIGTERM', () => void edge.close().then(() => process.exit(0)));
 */
export const startEdge = async (config: EdgeConfig, options: StartOptions = {}): Promise<RunningEdge> => {
  const logger = options.logger ?? createLogger();
  const metrics = createMetrics();
  const redis = config.redis === null ? null : createRedisClient(config.redis);
  const upstreamTrust = {
    ca: config.upstreamTls.caPath === null ? null : await readFile(config.upstreamTls.caPath),
    pin: config.upstreamTls.pin,
  };
  const reporter = config.apiToken === null ? null : createLockoutReporter(config.upstream, upstreamTrust, config.apiToken, logger);
  if (reporter === null) logger.log('info', 'EDGE_API_TOKEN unset: lockouts and blocks are not reported to the api (no security.lockout alerts)');
  const edge: EdgeContext = {
    config,
    logger,
    metrics,
    trust: buildTrustList(config.trustedProxies),
    hasTrustedProxies: config.trustedProxies.length > 0,
    throttle: createThrottle(config, logger, metrics, redis, (r) => reporter?.report(r)),
    refusals: createRefusalLog(logger, config.refusalLogIntervalMs),
    forwarder: createForwarder(config.upstream, config.timeouts.upstreamMs, upstreamTrust, config.upstreamLimits),
    poisoned: new WeakSet(),
    expectsContinue: new WeakSet(),
    draining: false,
    listenerClosing: null,
  };
  metrics.upstream.load = edge.forwarder.load;
  const server = await createListener(config, logger);
  const connections = enforceConnectionCap(server, edge);
  const connOf = connections.lookup;
  const served: Served = { edge, connOf };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => onRequest(served, req, res));
  refuseProtocolAbuse(server, edge, connOf);
  const serveMetrics = options.serveMetrics ?? true;
  const metricsServer = serveMetrics ? createMetricsServer(metrics) : null;
  if (!serveMetrics) {
    AggregatorRegistry.setRegistries([metrics.registry]);
    // Constructing one installs the worker's answer to the primary's metric requests.
    void new AggregatorRegistry();
  }

  // Counters taken in memory before Redis answers would not be shared; wait briefly.
  await edge.throttle.waitForRedis(2_000);
  // With the SSH demux the public port reads first bytes and hands TLS to `server`.
  const demux = options.sshDemux ? await startDemux({ server, config, demux: options.sshDemux, logger, metrics }) : null;
  const port = demux ? demux.port : await listen(server, config.port, config.host);
  const metricsPort = metricsServer === null ? 0 : await listen(metricsServer, config.metricsPort, config.metricsHost);
  logger.log('info', 'edge listening', {
    host: config.host,
    port,
    tls: config.tls !== null,
    metrics_host: config.metricsHost,
    metrics_port: metricsPort,
    upstream: config.upstream.origin,
    redis: config.redis !== null,
    ...(cluster.isWorker ? { worker: cluster.worker?.id } : {}),
  });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // From here every answer carries `Connection: close`.
      edge.draining = true;
      const t = config.timeouts;
      const grace = new Promise<void>((resolve) => setTimeout(resolve, t.shutdownGraceMs).unref());
      // Takes in what the kernel already accepted, then refuses new connections (listener.ts).
      // The demux, when present, is the listening socket; `server` itself never listened.
      const stopping = demux ? demux.stopAccepting() : stopAccepting(server);
      edge.listenerClosing = stopping.stopped;
      const taken = await stopping.stopped;
      edge.listenerClosing = null;
      logger.log('info', 'edge draining', {
        grace_ms: t.shutdownGraceMs,
        accept_turns: taken.acceptTurns,
        accept_ms: taken.acceptMs,
        accepted_while_stopping: taken.acceptedWhileStopping,
      });
      // Keep-alive sockets idle after an answer go now, the others as their answer ends.
      // A connection that has not sent its first request yet is not idle to Node (its
      // parser waits for a message under the header timeout): it is answered, then closed.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      await Promise.race([stopping.drained, grace]);
      clearInterval(sweep);
      server.closeAllConnections();
      // Sockets Node's HTTP layer does not know yet (TLS handshake, demux first bytes).
      connections.destroyAll();
      demux?.destroyAll();
      await stopping.drained;
      // http.Server's own close now: it stops the header/request timeout checks too.
      server.close();
      if (metricsServer !== null) {
        await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
        metricsServer.closeAllConnections();
      }
      edge.forwarder.close();
      edge.refusals.close();
      await edge.throttle.close();
      await reporter?.close();
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
