import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamLoad } from './proxy.ts';

/**
 * A two-label counter that costs one Map update per increment (issue 24):
 * prom-client hashes the label object on every `inc`, which on the refusal
 * path a flood meets was a measurable share of the edge's own work. Counts
 * are added to the prom-client counter when it is scraped (its `collect`).
 */
const tallied = <A extends string, B extends string>(name: string, help: string, labels: readonly [A, B], registry: Registry) => {
  const pending = new Map<string, number>();
  const counter = new Counter({
    name,
    help,
    labelNames: labels,
    registers: [registry],
    collect() {
      for (const [key, n] of pending) {
        const cut = key.indexOf('\n');
        this.inc({ [labels[0]]: key.slice(0, cut), [labels[1]]: key.slice(cut + 1) } as Record<A | B, string>, n);
      }
      pending.clear();
    },
  });
  return {
    counter,
    inc: (a: string, b: string): void => {
      const key = `${a}\n${b}`;
      pending.set(key, (pending.get(key) ?? 0) + 1);
    },
  };
};

/** One registry per edge instance, so several edges in one test process never collide. */
export const createMetrics = () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'edge_' });
  // Read at scrape time, so the request path pays nothing for the two gauges below.
  const upstream: { load: () => UpstreamLoad } = { load: () => ({ inflight: 0, queued: 0 }) };
  return {
    registry,
    /** Set once the forwarder exists: where the upstream gauges read from. */
    upstream,
    upstreamInflight: new Gauge({
      name: 'edge_upstream_inflight',
      help: 'Requests at the api now (at most EDGE_UPSTREAM_MAX_INFLIGHT)',
      registers: [registry],
      collect() {
        this.set(upstream.load().inflight);
      },
    }),
    upstreamQueued: new Gauge({
      name: 'edge_upstream_queued',
      help: 'Requests waiting for an upstream slot now (at most EDGE_UPSTREAM_QUEUE)',
      registers: [registry],
      collect() {
        this.set(upstream.load().queued);
      },
    }),
    upstreamShed: new Counter({
      name: 'edge_upstream_shed_total',
      help: 'Requests answered 503 without reaching the api: every slot taken and the queue full (queue_full) or the wait over (queue_timeout)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    /** `requests.inc(route, status)` */
    requests: tallied('edge_requests_total', 'Requests answered, by route (or refusal class) and status', ['route', 'status'], registry),
    /** `throttle.inc(rule, decision)` */
    throttle: tallied('edge_throttle_decisions_total', 'Throttle decisions by rule and outcome (allow, limit, lockout, block)', ['rule', 'decision'], registry),
    upstreamLatency: new Histogram({
      name: 'edge_upstream_duration_seconds',
      help: 'Time from forwarding a request to the api answering its headers',
      labelNames: ['route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'edge_upstream_errors_total',
      help: 'Forwarding failures by kind (bad_gateway, gateway_timeout)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    redisUp: new Gauge({
      name: 'edge_redis_up',
      help: '1 when the shared Redis is connected; 0 while limiting with the in-memory insurance limiter',
      registers: [registry],
    }),
    redisTransitions: new Counter({
      name: 'edge_redis_transitions_total',
      help: 'Redis connection state changes (up, down)',
      labelNames: ['to'] as const,
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'edge_connections_refused_total',
      help: 'Connections closed because the per-IP connection cap was reached',
      registers: [registry],
    }),
    ssh: new Counter({
      name: 'edge_ssh_connections_total',
      help: 'New SSH connections at the demux: piped, or refused by the rate limit (rate) or the pre-auth cap (cap)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    sshPreauthClosed: new Counter({
      name: 'edge_ssh_preauth_closed_total',
      help: 'SSH connections closed inside their pre-auth window: evicted for a lighter newcomer, or idle',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sshPreauthOpen: new Gauge({
      name: 'edge_ssh_preauth_open',
      help: 'SSH connections of this process inside their pre-auth window (the cap is shared: see EDGE_SSH_MAX_PREAUTH)',
      registers: [registry],
    }),
    connectionsOpen: new Gauge({
      name: 'edge_connections_open',
      help: 'Open client connections',
      registers: [registry],
    }),
  };
};

export type Metrics = ReturnType<typeof createMetrics>;
