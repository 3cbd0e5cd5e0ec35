/**
 * Benchmark baseline only (issue 24): the smallest keep-alive forwarder
 * `node:http` allows, with no screening, throttling or logging. A keep-alive
 * `http.Agent` to the upstream, the answer buffered and written in one
 * `end()` (as the edge does), and the same per-connection policy as the edge
 * (a client reconnects after 100 requests). The edge's forwarding target is a
 * ratio of this.
 * Usage: UPSTREAM=http://127.0.0.1:8082 PORT=9000 node bare-forward.js (bundled by bench-build.ts)
 */
import * as http from 'node:http';

const upstream = new URL(process.env['UPSTREAM'] ?? 'http://127.0.0.1:8082');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, scheduling: 'lifo' });
const server = http.createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
  const up = http.request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { host: 'api' }, agent },
    (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(answer.statusCode ?? 502, { 'content-type': String(answer.headers['content-type'] ?? 'application/json'), 'content-length': body.length });
        res.end(body);
      });
    },
  );
  up.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  req.pipe(up);
});
server.maxRequestsPerSocket = 100;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
