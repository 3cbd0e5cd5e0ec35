import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { EdgeConfig } from './env.ts';
import type { Logger } from './log.ts';

/**
 * Makes (does not start) the public HTTP or HTTPS server with the edge's
 * parser and timeout settings. Kept alone so a first-bytes demux (SSH/TLS on
 * one port) can sit in front of it.
 */
export const createListener = async (config: EdgeConfig, logger: Logger): Promise<http.Server | https.Server> => {
  const t = config.timeouts;
  const serverOptions: http.ServerOptions = {
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    // Node only enforces the two timeouts above on this tick; its 30 s default
    // would let a slowloris hold a socket far past the configured limit.
    connectionsCheckingInterval: t.connectionsCheckMs,
    keepAliveTimeout: t.keepAliveMs,
    maxHeaderSize: config.maxHeaderBytes,
    // The screen refuses a missing Host itself, with the contract's envelope.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
    noDelay: true,
  };
  let server: http.Server | https.Server;
  if (config.tls) {
    const [cert, key] = await Promise.all([readFile(config.tls.certPath), readFile(config.tls.keyPath)]);
    server = https.createServer({ ...serverOptions, cert, key, minVersion: 'TLSv1.2', handshakeTimeout: t.headersMs });
  } else {
    logger.log('warn', 'EDGE_TLS_CERT/EDGE_TLS_KEY unset: serving plain HTTP; terminate TLS in front of the edge');
    server = http.createServer(serverOptions);
  }
  // Unlimited count here; the screen refuses more than 64, and maxHeaderSize bounds the bytes.
  server.maxHeadersCount = 0;
  server.maxRequestsPerSocket = config.maxRequestsPerSocket;
  server.keepAliveTimeout = t.keepAliveMs;
  return server;
};
