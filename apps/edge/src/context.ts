import type * as http from 'node:http';
import type { BlockList, Socket } from 'node:net';
import type { EdgeConfig } from './env.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { RefusalLog } from './refusal-log.ts';
import type { Forwarder } from './proxy.ts';
import type { RouteId } from './screen.ts';
import type { Throttle } from './throttle/index.ts';

/** What every request step may use; built once per edge. */
export interface EdgeContext {
  config: EdgeConfig;
  logger: Logger;
  metrics: Metrics;
  trust: BlockList;
  /** EDGE_TRUSTED_PROXIES is non-empty. */
  hasTrustedProxies: boolean;
  throttle: Throttle;
  /** Throttle refusals logged per (IP, rule) and interval (refusal-log.ts). */
  refusals: RefusalLog;
  forwarder: Forwarder;
  /** Sockets that sent a refused request; requests pipelined after it are never handled. */
  poisoned: WeakSet<Socket>;
  /** Requests that sent `Expect: 100-continue`; we invite the body only once it will be read. */
  expectsContinue: WeakSet<http.IncomingMessage>;
  draining: boolean;
  /**
   * Set while the draining listener takes in its last connections (listener.ts).
   * Requests wait for it before they are handled: a client answered now would
   * connect again at once, and a stream of such clients keeps the listen queue
   * from ever going quiet, so the close would reset whoever is queued.
   */
  listenerClosing: Promise<unknown> | null;
}

/** One request and what the access line says about it. */
export class Exchange {
  requestId: string;
  route: RouteId | 'refused' | 'unmatched' = 'refused';
  peer = '';
  ip = '';
  reason: string | undefined = undefined;
  rule: string | undefined = undefined;
  throttleKey: string | undefined = undefined;
  /** A throttle refusal past the first of its (IP, rule) pair in the interval: counted, no line of its own. */
  quiet = false;
  upstreamMs: number | undefined = undefined;
  bytesIn = 0;
  /** The access line waits for both the answer and our own bookkeeping. */
  pending = 2;

  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly started: number,
    requestId: string,
  ) {
    this.requestId = requestId;
  }
}
