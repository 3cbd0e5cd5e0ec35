import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { foldIp } from '@airlock/net';
import type { ConnLookup } from './connections.ts';
import type { EdgeContext } from './context.ts';
import { rawError, sendError } from './respond.ts';

/**
 * Everything that never becomes an ordinary request: parser errors
 * (smuggling, obs-fold, bad methods, oversized or slow headers), unknown
 * expectations, upgrades and CONNECT. Each is answered with the envelope.
 */
export const refuseProtocolAbuse = (server: http.Server, edge: EdgeContext, connOf: ConnLookup): void => {
  const { config, metrics, logger } = edge;
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    const code = err.code ?? 'unknown';
    const timeout = code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT';
    metrics.requests.inc('refused', timeout ? '408' : '400');
    if (config.accessLog) {
      logger.log('info', 'access', {
        route: 'refused',
        status: timeout ? 408 : 400,
        ip: foldIp(socket.remoteAddress ?? ''),
        reason: `parser: ${code}`,
      });
    }
    const conn = connOf(socket);
    // A response is already under way on this socket: writing now would corrupt it.
    if (code === 'ECONNRESET' || (conn && conn.busy > 0)) {
      socket.destroy();
      return;
    }
    if (timeout) rawError(socket, 'request_timeout', 'Request not received in time');
    else rawError(socket, 'invalid_request', 'Request refused: malformed HTTP');
  });

  // Node would send `100 Continue` before we saw the request; we send it only for a body we will read.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    edge.expectsContinue.add(req);
    server.emit('request', req, res);
  });

  // Node answers unknown expectations with a bare 417; answer with the envelope instead.
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    edge.poisoned.add(req.socket);
    metrics.requests.inc('refused', '400');
    sendError(res, 'invalid_request', 'Request refused: unsupported Expect', true);
  });

  server.on('upgrade', (_req: http.IncomingMessage, socket: Socket) => {
    metrics.requests.inc('refused', '400');
    rawError(socket, 'invalid_request', 'Request refused: protocol upgrade');
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
    metrics.requests.inc('refused', '400');
    rawError(socket, 'invalid_request', 'Request refused: CONNECT');
  });
  if (config.tls) {
    server.on('tlsClientError', (err: Error & { code?: string }, socket: Socket) => {
      logger.log('info', 'tls handshake failed', { ip: foldIp(socket.remoteAddress ?? ''), reason: err.code ?? err.message });
    });
  }
};
