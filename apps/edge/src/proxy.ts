import * as http from 'node:http';
import { Readable } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { VerifyingAgent, type UpstreamTrust } from './upstream-tls.ts';

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

interface Pending {
  target: string;
  started: number;
  timedOut: boolean;
  settled: boolean;
  settle: (r: ForwardResult | ForwardFailure) => void;
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

export const createForwarder = (
  upstream: URL,
  timeoutMs: number,
  trust: UpstreamTrust = { ca: null, pin: null },
): Forwarder => {
  const tlsUpstream = upstream.protocol === 'https:';
  // Keep-alive to the api: a TCP (or TLS) handshake per request would halve throughput.
  // noDelay: small JSON requests must not wait on Nagle for an ACK the api delays.
  const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' as const, noDelay: true };
  const agent: http.Agent = tlsUpstream ? new VerifyingAgent(agentOptions, trust) : new http.Agent(agentOptions);
  const proxy = createProxyServer({
    // A URL object, so http-proxy-3 does not re-parse the target per request.
    target: new URL(upstream.origin),
    agent,
    // toProxy + prependPath:false make http-proxy-3 use req.url verbatim. Its
    // default rebuilds the path through `new URL()`, which resolves dot
    // segments and turns `\` into `/`: the api would see a path we never checked.
    toProxy: true,
    prependPath: false,
    xfwd: false,
    changeOrigin: false,
    proxyTimeout: timeoutMs,
    // We relay the answer ourselves, after the throttle has counted it, so a
    // client cannot race its next guess past the failure it just caused.
    selfHandleResponse: true,
  });
  const pending = new WeakMap<http.IncomingMessage, Pending>();

  proxy.on('proxyReq', (proxyReq, req, _res, _options, socket) => {
    socket.setNoDelay(true);
    const p = pending.get(req);
    // Last line of defence: what goes on the wire must be the string we matched.
    if (!p || proxyReq.path !== p.target) {
      proxyReq.destroy(new Error('outgoing path differs from the screened target'));
      return;
    }
    proxyReq.once('timeout', () => {
      p.timedOut = true;
    });
  });

  proxy.on('proxyRes', (proxyRes, req, res) => {
    const p = pending.get(req);
    if (!p) {
      proxyRes.destroy();
      return;
    }
    const status = proxyRes.statusCode ?? 502;
    p.settle({
      kind: 'response',
      status,
      upstreamMs: performance.now() - p.started,
      relay: () => {
        if (res.destroyed) {
          proxyRes.destroy();
          return;
        }
        res.statusCode = status;
        for (const [name, value] of Object.entries(proxyRes.headers)) {
          if (value !== undefined && !HOP_BY_HOP_RESPONSE.has(name)) res.setHeader(name, value);
        }
        // A truncated answer must not look complete to the client.
        proxyRes.on('error', () => res.destroy());
        proxyRes.on('aborted', () => res.destroy());
        proxyRes.pipe(res);
      },
    });
  });

  const forward: Forwarder['forward'] = (req, res, target, headers, body) =>
    new Promise((resolve) => {
      const p: Pending = {
        target,
        started: performance.now(),
        timedOut: false,
        settled: false,
        settle: (r) => {
          if (!p.settled) {
            p.settled = true;
            resolve(r);
          }
        },
      };
      pending.set(req, p);
      // http-proxy-3 swallows the upstream reset it causes when the client
      // hangs up (its `econnreset` event), so settle here or wait forever.
      res.once('close', () => p.settle({ kind: 'client_gone', reason: 'client closed the connection' }));
      // setupOutgoing copies req.headers; it gets only what we chose to send.
      req.headers = headers as http.IncomingHttpHeaders;
      req.url = target;
      // A GET has no body to replay; a POST's was consumed by the screen and is replayed as read.
      const options = body === null ? {} : { buffer: Readable.from([body]) };
      proxy.web(req, res, options, (err: Error & { code?: string }) => {
        if (p.settled) {
          if (!res.writableEnded) res.destroy();
          return;
        }
        p.settle({ kind: p.timedOut ? 'gateway_timeout' : 'bad_gateway', reason: err.code ?? err.message });
      });
    });

  return {
    forward,
    close: () => agent.destroy(),
  };
};
