/**
 * Benchmark baseline only: http-proxy-3 forwarding everything with the same
 * keep-alive agent and no screening, throttling or logging. Shows what the
 * library and the extra hop cost on this machine, apart from the edge's logic.
 * Usage: UPSTREAM=http://127.0.0.1:8082 PORT=9000 tsx apps/edge/bench/bare-proxy.ts
 */
import * as http from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo', noDelay: true });
const proxy = createProxyServer({ target: new URL(process.env['UPSTREAM'] ?? 'http://127.0.0.1:8082'), agent });
const server = http.createServer((req, res) =>
  proxy.web(req, res, {}, () => {
    res.statusCode = 502;
    res.end();
  }),
);
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
