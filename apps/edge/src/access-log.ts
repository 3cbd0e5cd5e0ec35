import cluster from 'node:cluster';
import type { EdgeContext, Exchange } from './context.ts';
import { loggable } from './log.ts';

/** Which worker answered, in cluster mode (EDGE_WORKERS > 1). */
const WORKER = cluster.isWorker ? cluster.worker?.id : undefined;

const headerOf = (ex: Exchange, name: string): string | undefined => {
  const v = ex.req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** One metric and (when enabled) one access line per request, without bodies, keys or unmatched targets. */
export const accessLog = (edge: EdgeContext, ex: Exchange): void => {
  const { req, res } = ex;
  edge.metrics.requests.inc(ex.route, String(res.statusCode));
  if (!edge.config.accessLog) return;
  // A flood's refusals: the first per (IP, rule) and interval in full, the rest counted (refusal-log.ts).
  if (ex.quiet) return;
  edge.logger.log('info', 'access', {
    request_id: ex.requestId,
    method: loggable(req.method, 16),
    route: ex.route,
    status: res.statusCode,
    // Unmatched targets are never logged: a confused agent may put a code in a query string.
    ip: ex.ip,
    peer: ex.peer,
    ms: Math.round((performance.now() - ex.started) * 10) / 10,
    upstream_ms: ex.upstreamMs === undefined ? undefined : Math.round(ex.upstreamMs * 10) / 10,
    bytes_in: ex.bytesIn,
    reason: ex.reason,
    rule: ex.rule,
    throttle_key: ex.throttleKey,
    completed: res.writableFinished,
    user_agent: loggable(req.rawHeaders.length <= 128 ? headerOf(ex, 'user-agent') : undefined),
    worker: WORKER,
  });
};
