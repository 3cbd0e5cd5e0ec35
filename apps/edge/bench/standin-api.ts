/**
 * A minimal stand-in for the api on the public status route, for the edge
 * benchmark when the real api is not available: answers like the api does for
 * a pending enrollment. Prints `{"port":N}` once listening.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

const body = JSON.stringify({ status: 'awaiting_approval', poll_interval: 5 });
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/v1/enroll/status') {
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const nf = JSON.stringify({ error: { code: 'not_found', message: 'Not found' } });
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(nf) });
  res.end(nf);
});
server.keepAliveTimeout = 30_000;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
