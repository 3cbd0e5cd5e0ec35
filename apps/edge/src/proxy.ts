/**
 * The edge → api hop: an undici Pool (keep-alive, bounded connections) driven
 * through `dispatch` with one handler object per request, so the hot path
 * allocates no closures or promise chains beyond the one promise the caller
 * awaits. Measured against http-proxy-3 in docs/benchmarks.md.
 *
 * At most `maxInflight` requests are at the api at once (issue #13): the rest
 * wait in a short FIFO queue (`queue` entries, `queueMs` each) and are refused
 * (`busy`) when it is full or their wait runs out, so a flood meets a quick
 * 503 instead of an api queue that outgrows the upstream timeout. The queue
 * holds the same handler objects and is expired by one timer for all of them.
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
  /**
   * `client_gone`: the client hung up first; there is nobody left to answer.
   * `busy`: every upstream slot was taken and the wait queue was full
   * (`queue_full`) or the wait ran out (`queue_timeout`); nothing was sent.
   */
  kind: 'bad_gateway' | 'gateway_timeout' | 'client_gone' | 'busy';
  reason: string;
}

/** EDGE_UPSTREAM_MAX_INFLIGHT, EDGE_UPSTREAM_QUEUE, EDGE_UPSTREAM_QUEUE_MS. */
export interface UpstreamLimits {
  maxInflight: number;
  queue: number;
  queueMs: number;
}

/** Requests at the api and waiting for a slot, read at scrape time. */
export interface UpstreamLoad {
  inflight: number;
  queued: number;
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
  load: () => UpstreamLoad;
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

/** Refusals made before anything is allocated: one shared, already settled promise. */
const QUEUE_FULL: Promise<ForwardFailure> = Promise.resolve({ kind: 'busy', reason: 'queue_full' });
const QUEUE_TIMEOUT: ForwardFailure = { kind: 'busy', reason: 'queue_timeout' };

const HANDLER = Symbol('airlock.forward');
type Tagged = http.ServerResponse & { [HANDLER]?: Relay };

/** The client hung up: stop the api call, or drop its answer. */
function onClientClose(this: Tagged): void {
  const relay = this[HANDLER];
  if (relay === undefined) return;
  relay.clientGone();
}

/** In the gate's queue, waiting for a slot. */
const QUEUED = 0;
/** Holds a slot: dispatched to the api. */
const SENT = 1;
/** Off the queue without being sent (client gone, wait expired), or its slot given back. */
const DONE = 2;
type Stage = typeof QUEUED | typeof SENT | typeof DONE;

/** One request's trip to the api and back; also the ForwardResult once the status is known. */
class Relay implements Dispatcher.DispatchHandler, ForwardResult {
  readonly kind = 'response';
  status = 0;
  upstreamMs = 0;
  stage: Stage = QUEUED;
  /** When a queued request gives up waiting (performance.now() clock). */
  deadline = 0;
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
    private readonly gate: Gate,
    readonly options: Dispatcher.DispatchOptions,
  ) {}

  /** The promise's executor: the one function this request allocates. */
  bind(resolve: (r: ForwardResult | ForwardFailure) => void): void {
    this.resolve = resolve;
  }

  settle(r: ForwardResult | ForwardFailure): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve?.(r);
    this.resolve = null;
  }

  clientGone(): void {
    if (!this.settled) this.settle({ kind: 'client_gone', reason: 'client closed the connection' });
    if (this.stage === QUEUED) {
      // Never sent: leave the queue (lazily; the entry is skipped when reached).
      this.stage = DONE;
      this.gate.queued -= 1;
      return;
    }
    if (!this.ended) this.controller?.abort(new Error('client closed the connection'));
  }

  /** The api is done with this request (answer complete, failed or aborted): its slot is free. */
  private finished(): void {
    if (this.stage !== SENT) return;
    this.stage = DONE;
    this.gate.release();
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
    this.finished();
    if (this.relaying) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    this.finished();
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
 * The bound on requests at the api: `inflight` slots, then a FIFO of relays
 * waiting for one. Entries whose client left stay in the array until reached
 * (`queued` counts only live ones); one timer, armed for the oldest entry,
 * expires the waits.
 */
class Gate {
  inflight = 0;
  queued = 0;
  private readonly waiting: Relay[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly onTimer = (): void => this.expire();

  constructor(
    private readonly pool: Pool,
    readonly limits: UpstreamLimits,
  ) {}

  send(relay: Relay): void {
    this.inflight += 1;
    relay.stage = SENT;
    this.pool.dispatch(relay.options, relay);
  }

  wait(relay: Relay, now: number): void {
    relay.deadline = now + this.limits.queueMs;
    this.waiting.push(relay);
    this.queued += 1;
    if (this.timer === null) this.arm(now);
  }

  /** A slot came free: the oldest live waiter takes it. */
  release(): void {
    this.inflight -= 1;
    while (this.waiting.length > 0) {
      const next = this.waiting.shift() as Relay;
      if (next.stage !== QUEUED) continue;
      this.queued -= 1;
      this.send(next);
      return;
    }
  }

  private arm(now: number): void {
    const head = this.waiting[0];
    if (head === undefined) return;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(head.deadline - now)));
    this.timer.unref();
  }

  private expire(): void {
    this.timer = null;
    const now = performance.now();
    while (this.waiting.length > 0) {
      const head = this.waiting[0] as Relay;
      if (head.stage === QUEUED) {
        if (head.deadline > now) break;
        head.stage = DONE;
        this.queued -= 1;
        head.settle(QUEUE_TIMEOUT);
      }
      this.waiting.shift();
    }
    this.arm(now);
  }

  /** Shutdown: nobody waits any more. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const relay of this.waiting.splice(0)) {
      if (relay.stage !== QUEUED) continue;
      relay.stage = DONE;
      relay.settle(QUEUE_TIMEOUT);
    }
    this.queued = 0;
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
  limits: UpstreamLimits = { maxInflight: 64, queue: 128, queueMs: 1_000 },
): Forwarder => {
  const pool = new Pool(upstream.origin, {
    // One connection per slot: the gate keeps requests at or under it.
    connections: limits.maxInflight,
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: upstreamConnector(upstream, trust, timeoutMs),
  });
  // A failed api connection surfaces per request; the pool itself must not crash the edge.
  pool.on('connectionError', () => undefined);

  const gate = new Gate(pool, limits);

  const forward: Forwarder['forward'] = (_req, res, target, headers, body) => {
    const slot = gate.inflight < limits.maxInflight;
    if (!slot && gate.queued >= limits.queue) return QUEUE_FULL;
    const now = performance.now();
    const relay = new Relay(res, now, gate, {
      // The screened target, verbatim: undici sends the path as given.
      path: target,
      method: body === null ? 'GET' : 'POST',
      headers: headers as Record<string, string>,
      body,
    });
    const done = new Promise<ForwardResult | ForwardFailure>((resolve) => relay.bind(resolve));
    (res as Tagged)[HANDLER] = relay;
    res.once('close', onClientClose);
    if (slot) gate.send(relay);
    else gate.wait(relay, now);
    return done;
  };

  return {
    forward,
    load: () => ({ inflight: gate.inflight, queued: gate.queued }),
    close: () => {
      gate.close();
      void pool.destroy();
    },
  };
};
