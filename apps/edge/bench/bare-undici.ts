/**
 * Benchmark baseline only: an undici Pool forwarding everything, with no
 * screening, throttling or logging. Compare with bare-proxy.ts (http-proxy-3
 * on a keep-alive http.Agent) to see what the forwarding client costs.
 * Usage: UPSTREAM=http://127.0.0.1:8082 PORT=9000 tsx apps/edge/bench/bare-undici.ts
 */
import * as http from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.env['UPSTREAM'] ?? 'http://127.0.0.1:8082', { connections: 64, pipelining: 1 });
const server = http.createServer((req, res) => {
  pool
    .request({ method: req.method === 'POST' ? 'POST' : 'GET', path: req.url ?? '/', headers: { host: 'api' }, body: req.method === 'POST' ? req : null })
    .then(async (up) => {
      const chunks: Buffer[] = [];
      for await (const c of up.body) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json'), 'content-length': body.length });
      res.end(body);
    })
    .catch(() => {
      res.statusCode = 502;
      res.end();
    });
});
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
