import * as http from 'node:http';
import type { Metrics } from './metrics.ts';
import { sendError } from './respond.ts';

/** The internal Prometheus listener: GET /metrics and nothing else. */
export const createMetricsServer = (metrics: Metrics): http.Server =>
  http.createServer((req, res) => {
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
