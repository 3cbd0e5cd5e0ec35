/**
 * Benchmark baseline only: what Node itself costs, with no edge logic. It
 * answers `GET /healthz` with 200 and everything else with the same 429 the
 * edge sends (same headers, same envelope), so the side-by-side bench can say
 * how close the edge's refusal path is to Node's ceiling, and how much of the
 * idle-connection memory is Node's own. Same connection policy as the edge
 * (KEEPALIVE_MS, default 5 s as EDGE_KEEPALIVE_TIMEOUT_MS; a client reconnects
 * after 100 requests, as EDGE_MAX_REQUESTS_PER_SOCKET), so the bytes on the
 * wire are the edge's.
 * Usage: PORT=9000 node bare-node.js (bundled by bench-build.ts)
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';

const BODY = JSON.stringify({ error: { code: 'rate_limited', message: 'Too many requests; retry later' } });
const server = http.createServer({ keepAliveTimeout: Number(process.env['KEEPALIVE_MS'] ?? 5_000), connectionsCheckingInterval: 1_000 }, (req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
    return;
  }
  res.writeHead(429, {
    'x-request-id': randomUUID(),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(BODY),
    'cache-control': 'no-store',
    'retry-after': '60',
  });
  res.end(BODY);
});
server.maxRequestsPerSocket = 100;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
