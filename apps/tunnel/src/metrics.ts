/**
 * The endpoint's Prometheus metrics (issue 21), on their own loopback
 * listener (TUNNEL_METRICS_HOST / TUNNEL_METRICS_PORT) as the api's and the
 * edge's are. Counts are read at scrape time from the counters the endpoint
 * already keeps for its log summary (events.ts), so the two never disagree;
 * only the key-lookup latency is observed here directly.
 */
import http from 'node:http';
import { listenOn } from '@airlock/net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TunnelCounters } from './events.ts';

export interface TunnelMetrics {
  registry: Registry;
  /** One api lookup of an offered key, from question to answer. */
  observeLookup(seconds: number): void;
}

/** A counter whose value is read from elsewhere at scrape time. */
const readCounter = (registry: Registry, name: string, help: string, read: () => Record<string, number>, label?: string) =>
  new Counter({
    name,
    help,
    labelNames: label ? [label] : [],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, n] of Object.entries(read())) {
        if (label) this.inc({ [label]: k }, n);
        else this.inc(n);
      }
    },
  });

export const createTunnelMetrics = (o: { counters: TunnelCounters; closedByReason: Record<string, number>; liveSessions: () => number }): TunnelMetrics => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tunnel_' });
  const c = o.counters;
  new Gauge({
    name: 'tunnel_sessions_live',
    help: 'SSH sessions of agents held now (authenticated, vouched for)',
    registers: [registry],
    collect() {
      this.set(o.liveSessions());
    },
  });
  readCounter(registry, 'tunnel_sessions_opened_total', 'Sessions opened (seen in the process table, authorised by the keys service)', () => ({ '': c.sessions_opened }));
  readCounter(registry, 'tunnel_sessions_closed_total', 'Sessions closed, by reason (disconnected, revoked, endpoint_stopped, …)', () => o.closedByReason, 'reason');
  readCounter(
    registry,
    'tunnel_sessions_denied_total',
    'Logins refused or sessions cut before they counted, by reason',
    () => ({
      unknown_key: c.keys_unknown,
      inactive_agent: c.keys_refused_inactive,
      lookup_failed: c.keys_failed,
      unidentified_session: c.sessions_cut_unidentified,
    }),
    'reason',
  );
  readCounter(registry, 'tunnel_key_lookup_errors_total', 'Key lookups the api did not answer (unreachable, timeout, 5xx): the login was refused', () => ({ '': c.keys_lookup_errors }));
  readCounter(registry, 'tunnel_sshd_restarts_total', 'Times the supervisor restarted sshd after it exited', () => ({ '': c.sshd_restarts }));
  const lookups = new Histogram({
    name: 'tunnel_key_lookup_duration_seconds',
    help: "Time from sshd's AuthorizedKeysCommand question to the api's answer (sshd waits on it for every login)",
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, observeLookup: (seconds) => lookups.observe(seconds) };
};

/** GET /metrics on its own listener; 404 for anything else. Port 0 in the config means none is started. */
export const serveTunnelMetrics = async (metrics: TunnelMetrics, host: string, port: number): Promise<http.Server & { port: number }> => {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
          res.end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  return Object.assign(server, { port: await listenOn(server, port, host) });
};
