/**
 * The edge → api hop: an undici Pool (keep-alive, bounded connections) driven
 * through `dispatch` with one handler object per request, so the hot path
 * allocates no closures or promise chains beyond the one promise the caller
 * awaits. Measured against http-proxy-3 in apps/edge/README.md.
 */
import type * as http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { upstreamConnector, type UpstreamTrust } from './upstream-tls.ts';

export interface ForwardResult {
  kind: 'response';
  status: number;
  upstreamMs: number;
  /** Sends the api's answer to the client; call once the outcome is counted. */
  relay: () => void;
}

export interface ForwardFailure {
  /** `client_gone`: the client hung up first; there is nobody left to answer. */
  kind: 'bad_gateway' | 'gateway_timeout' | 'client_gone';
  reason: string;
}

export interface Forwarder {
  /**
   * Sends exactly `target` (already screened) with `headers` and `body` to the
   * api. Resolves once the api's status is known, or forwarding failed (the
   * caller then answers 502/504 itself).
   */
  forward: (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    target: string,
    headers: http.OutgoingHttpHeaders,
    body: Buffer | null,
  ) => Promise<ForwardResult | ForwardFailure>;
  close: () => void;
}

/** Response headers that describe the api hop, not the client's. */
const HOP_BY_HOP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
]);

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

const HANDLER = Symbol('airlock.forward');
type Tagged = http.ServerResponse & { [HANDLER]?: Relay };

/** The client hung up: stop the api call, or drop its answer. */
function onClientClose(this: Tagged): void {
  const relay = this[HANDLER];
  if (relay === undefined) return;
  relay.clientGone();
}

/** One request's trip to the api and back; also the ForwardResult once the status is known. */
class Relay implements Dispatcher.DispatchHandler, ForwardResult {
  readonly kind = 'response';
  status = 0;
  upstreamMs = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private settled = false;
  private relaying = false;
  private ended = false;
  private headers: http.IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private resolve: ((r: ForwardResult | ForwardFailure) => void) | null = null;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly started: number,
  ) {}

  /** The promise's executor: the one function this request allocates. */
  bind(resolve: (r: ForwardResult | ForwardFailure) => void): void {
    this.resolve = resolve;
  }

  private settle(r: ForwardResult | ForwardFailure): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve?.(r);
    this.resolve = null;
  }

  clientGone(): void {
    if (!this.settled) this.settle({ kind: 'client_gone', reason: 'client closed the connection' });
    if (!this.ended) this.controller?.abort(new Error('client closed the connection'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) this.clientGone();
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: http.IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    this.upstreamMs = performance.now() - this.started;
    this.settle(this);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // The api's answers are small bounded JSON; hold them until the outcome is counted.
    if (this.relaying) this.res.write(chunk);
    else this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.relaying) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    if (!this.settled) {
      const code = err.code ?? err.message;
      this.settle({ kind: TIMEOUTS.has(code) ? 'gateway_timeout' : 'bad_gateway', reason: code });
      return;
    }
    // A truncated answer must not look complete to the client.
    if (!this.res.writableEnded) this.res.destroy();
  }

  relay(): void {
    const res = this.res;
    if (res.destroyed) {
      this.controller?.abort(new Error('client closed the connection'));
      return;
    }
    res.statusCode = this.status;
    for (const name in this.headers) {
      const value = this.headers[name];
      if (value !== undefined && !HOP_BY_HOP_RESPONSE.has(name)) res.setHeader(name, value);
    }
    this.relaying = true;
    if (this.ended) {
      // The whole answer is here (the usual case): headers and body leave in one write.
      res.end(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks));
      this.chunks.length = 0;
      return;
    }
    for (const chunk of this.chunks) res.write(chunk);
    this.chunks.length = 0;
  }
}

/**
 * @example
 *   const forwarder = createForwarder(new URL('http://127.0.0.1:8082'), 15_000);
 */
export const createForwarder = (
  upstream: URL,
  timeoutMs: number,
  trust: UpstreamTrust = { ca: null, pin: null },
): Forwarder => {
  const pool = new Pool(upstream.origin, {
    connections: 256,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: upstreamConnector(upstream, trust, timeoutMs),
  });
  // A failed api connection surfaces per request; the pool itself must not crash the edge.
  pool.on('connectionError', () => undefined);

  const forward: Forwarder['forward'] = (_req, res, target, headers, body) => {
    const relay = new Relay(res, performance.now());
    const done = new Promise<ForwardResult | ForwardFailure>((resolve) => relay.bind(resolve));
    (res as Tagged)[HANDLER] = relay;
    res.once('close', onClientClose);
    pool.dispatch(
      {
        // The screened target, verbatim: undici sends the path as given.
        path: target,
        method: body === null ? 'GET' : 'POST',
        headers: headers as Record<string, string>,
        body,
      },
      relay,
    );
    return done;
  };

  return {
    forward,
    close: () => {
      void pool.destroy();
    },
  };
};
