import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamLoad } from './proxy.ts';

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
    requests: new Counter({
      name: 'edge_requests_total',
      help: 'Requests answered, by route (or refusal class) and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    throttle: new Counter({
      name: 'edge_throttle_decisions_total',
      help: 'Throttle decisions by rule and outcome (allow, limit, lockout, block)',
      labelNames: ['rule', 'decision'] as const,
      registers: [registry],
    }),
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
