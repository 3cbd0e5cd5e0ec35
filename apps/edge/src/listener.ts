import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
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
  // Requests per connection are counted by the edge itself (server.ts onRequest).
  server.keepAliveTimeout = t.keepAliveMs;
  return server;
};

/** Resolves after the event loop has polled for I/O at least once since the call. */
const afterOnePoll = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

/**
 * Bound on the time spent accepting a steady stream of arrivals before closing
 * anyway. Requests wait meanwhile (EdgeContext.listenerClosing), so a client
 * population that connects again after each answer goes quiet once the
 * answers to requests already at the api are out: about the api's latency.
 */
const MAX_ACCEPT_MS = 500;

export interface Stopping {
  /** The listening socket is closed: new connections are refused. Resolves with what it took in first. */
  stopped: Promise<{ acceptTurns: number; acceptMs: number; acceptedWhileStopping: number }>;
  /** Every connection the listener had accepted has closed. */
  drained: Promise<void>;
}

/**
 * Stops listening without resetting a client that already connected.
 *
 * A connection the kernel has completed but Node has not yet `accept()`ed
 * sits in the listening socket's queue; closing that socket resets it, and
 * the client, which saw its connect succeed, gets ECONNRESET (issue #13: 4-5
 * of ~200 connections in the SIGTERM chaos test). So the queue is emptied
 * first: the listener stays open until a full event-loop turn (libuv accepts
 * everything queued in its poll phase) brings no new connection, for at most
 * MAX_ACCEPT_MS, and is closed right after. What is accepted is served like
 * any other connection (with `Connection: close` while draining). A
 * connection completed after that last turn's accept and before the close is
 * still reset: Linux has no atomic "stop listening, keep the queue", and Node
 * no way to close between the accept loop and the rest of the poll phase.
 *
 * It uses net.Server's close, not http.Server's: the latter also stops Node's
 * header and request timeout checks, which must keep running for the
 * connections accepted before the drain (a silent one gets its 408 at the
 * header timeout). Call the server's own `close()` once drained.
 */
export const stopAccepting = (listener: net.Server): Stopping => {
  let accepted = 0;
  const count = (): void => {
    accepted += 1;
  };
  listener.on('connection', count);
  let drainedResolve = (): void => undefined;
  const drained = new Promise<void>((resolve) => (drainedResolve = resolve));
  const stopped = (async () => {
    const began = performance.now();
    let turns = 0;
    while (performance.now() - began < MAX_ACCEPT_MS) {
      turns += 1;
      const before = accepted;
      await afterOnePoll();
      if (accepted === before) break;
    }
    listener.off('connection', count);
    net.Server.prototype.close.call(listener, () => drainedResolve());
    return { acceptTurns: turns, acceptMs: Math.round(performance.now() - began), acceptedWhileStopping: accepted };
  })();
  return { stopped, drained };
};
