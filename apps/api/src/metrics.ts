/**
 * The api's Prometheus metrics, served on their own loopback listener (like
 * the edge's) so scraping never touches the operator port. One registry per
 * api instance: several apis in one test process never collide.
 *
 * Domain events are counted where the audit trail records them (observeAudit),
 * so a metric and its audit row cannot disagree on what happened; refusals are
 * counted by error code where every ApiError becomes an envelope.
 */
import http from 'node:http';
import { listenOn } from '@airlock/net';
import { errorEnvelope } from '@airlock/schema';
import { sql as rawSql } from 'drizzle-orm';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ANONYMOUS_REFUSALS_METRIC, anonymousRefusals } from './metrics/refusals.ts';
import type { Database } from './db/client.ts';
import { outboxStats } from './store/webhooks.ts';

export interface ApiMetrics {
  registry: Registry;
  request(method: string, route: string, status: number, seconds: number): void;
  refusal(code: string): void;
  /** Called for every audit row written; maps domain events to counters. */
  observeAudit(eventType: string, details: Record<string, unknown> | undefined): void;
  /** Seconds from enroll to an approval (operator or site policy), by method. */
  approved(method: string, seconds: number): void;
  /** One statement's duration (db/timed.ts). */
  query(seconds: number, ok: boolean): void;
  /** One webhook attempt's outcome: delivered, retrying (will be retried) or failed (given up). */
  webhookDelivery(result: 'delivered' | 'retrying' | 'failed'): void;
}

const str = (v: unknown, fallback: string) => (typeof v === 'string' && /^[a-z_]{1,40}$/.test(v) ? v : fallback);

/**
 * `db` and `poolMax` feed the gauges computed on scrape: one query gives the
 * pending approvals and this api's connections by state; its duration is the
 * database round-trip gauge.
 */
export const createApiMetrics = (db: Database | null, poolMax: number): ApiMetrics => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'api_' });
  const requests = new Counter({
    name: 'api_http_requests_total',
    help: 'Requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'api_http_request_duration_seconds',
    help: 'Time to answer a request, by route pattern (database work dominates)',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const enrollments = new Counter({
    name: 'api_enrollments_total',
    help: 'Enrollment attempts by method (pairing_code, enrollment_key) and outcome (created, denied, source_refused, site_conflict)',
    labelNames: ['method', 'outcome'] as const,
    registers: [registry],
  });
  const verifications = new Counter({
    name: 'api_enroll_verifications_total',
    help: 'Challenge answers by outcome (awaiting_approval, approved, pending_confirmation, denied, expired)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'api_enrollment_decisions_total',
    help: 'Enrollment decisions (approved, rejected, expired)',
    labelNames: ['decision'] as const,
    registers: [registry],
  });
  const timeToApproval = new Histogram({
    name: 'api_time_to_approval_seconds',
    help: 'Seconds from enroll to approval, by method',
    labelNames: ['method'] as const,
    buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 86400],
    registers: [registry],
  });
  const queryDuration = new Histogram({
    name: 'api_db_query_duration_seconds',
    help: 'Duration of each SQL statement the api runs, by outcome (ok, error)',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const credentials = new Counter({
    name: 'api_credentials_issued_total',
    help: 'Agent keys (cak_) handed to agents',
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'api_refusals_total',
    help: 'Refusals answered with the error envelope, by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  // Refusals from strangers (#8.1), counted per kind in domain/refusals.ts
  // instead of an audit row each; read from that one counter at scrape time.
  new Counter({
    name: ANONYMOUS_REFUSALS_METRIC,
    help: 'Refusals that concern no real site, enrollment or agent, by kind (counted, not written as audit rows)',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(anonymousRefusals.snapshot())) this.inc({ kind }, n);
    },
  });
  const webhookAttempts = new Counter({
    name: 'api_webhook_deliveries_total',
    help: 'Webhook attempts by result: delivered, retrying (failed, will be retried), failed (given up after the retry window)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // Outbox gauges, one scrape-time query for both (store/webhooks.ts).
  let outboxInFlight: Promise<void> | null = null;
  const outboxProbe = (): Promise<void> => {
    outboxInFlight ??= (async () => {
      if (!db) return;
      try {
        const s = await outboxStats(db);
        outboxLag.set(s.lagSeconds);
        failedEvents.set(s.failed);
      } catch {
        // api_db_up already says the database did not answer.
      }
    })().finally(() => {
      outboxInFlight = null;
    });
    return outboxInFlight;
  };
  const outboxLag = new Gauge({
    name: 'api_webhook_outbox_lag_seconds',
    help: 'Age of the oldest due webhook delivery (0: nothing waits)',
    registers: [registry],
    collect: outboxProbe,
  });
  const failedEvents = new Gauge({
    name: 'api_webhook_failed_deliveries',
    help: 'Webhook deliveries given up after the retry window (state failed)',
    registers: [registry],
    collect: outboxProbe,
  });
  // The registry collects every metric concurrently; the gauges below share
  // one in-flight scrape-time query instead of each running its own.
  let inFlight: Promise<void> | null = null;
  const probe = (): Promise<void> => {
    inFlight ??= runProbe().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
  const dbUp = new Gauge({ name: 'api_db_up', help: '1 when the scrape-time database query succeeded', registers: [], collect: probe });
  const dbLatency = new Gauge({
    name: 'api_db_probe_seconds',
    help: 'Duration of the scrape-time database query (round-trip latency)',
    registers: [],
    collect: probe,
  });
  const dbConnections = new Gauge({
    name: 'api_db_connections',
    help: "This api's database connections by state (pg_stat_activity, application_name airlock-api)",
    labelNames: ['state'] as const,
    registers: [],
    collect: probe,
  });
  const pending = new Gauge({
    name: 'api_pending_approvals',
    help: 'Enrollments waiting for an operator (awaiting_approval or pending_confirmation, not past their deadline)',
    registers: [],
    collect: probe,
  });
  const connectedAgents = new Gauge({
    name: 'api_tunnel_connected_agents',
    help: 'Agents holding a live SSH tunnel session, by site',
    labelNames: ['site_code'] as const,
    registers: [],
    collect: probe,
  });
  const remotePortsExhausted = new Counter({
    name: 'api_tunnel_remote_ports_exhausted_total',
    help: 'Credentials issued without a reverse forward because AIRLOCK_SSH_REMOTE_PORTS was exhausted',
    registers: [registry],
  });
  const tunnelTransitions = new Counter({
    name: 'api_tunnel_state_changes_total',
    help: 'Agents whose tunnel went connected or disconnected',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const poolMaxGauge = new Gauge({ name: 'api_db_pool_max', help: 'Connections the api may open', registers: [] });
  poolMaxGauge.set(poolMax);
  for (const m of [dbUp, dbLatency, poolMaxGauge, dbConnections, pending, connectedAgents]) registry.registerMetric(m);

  async function runProbe(): Promise<void> {
    if (!db) return;
    const started = performance.now();
    try {
      // One query per scrape, whatever the number of gauges it feeds.
      const rows = await db.execute<{ pending: string; state: string | null; n: string }>(rawSql`
        with p as (
          select count(*) as pending from enrollments
          where status in ('awaiting_approval', 'pending_confirmation')
            and (approval_expires_at is null or approval_expires_at > now())
        ), c as (
          select coalesce(state, 'unknown') as state, count(*) as n from pg_stat_activity
          where application_name = 'airlock-api' group by 1
        )
        select p.pending, c.state, c.n from p left join c on true`);
      pending.set(Number(rows[0]?.pending ?? 0));
      const connected = await db.execute<{ site_code: string; n: string }>(
        rawSql`select site_code, count(*) as n from agents where tunnel_connected group by 1`,
      );
      connectedAgents.reset();
      for (const r of connected) connectedAgents.set({ site_code: r.site_code }, Number(r.n));
      dbConnections.reset();
      for (const r of rows) if (r.state) dbConnections.set({ state: r.state }, Number(r.n));
      dbUp.set(1);
    } catch {
      dbUp.set(0);
    } finally {
      dbLatency.set((performance.now() - started) / 1000);
    }
  }

  return {
    registry,
    request: (method, route, status, seconds) => {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ route }, seconds);
    },
    refusal: (code) => refusals.inc({ code }),
    observeAudit: (eventType, details) => {
      const method = str(details?.method, 'unknown');
      switch (eventType) {
        case 'enroll.created':
          return enrollments.inc({ method, outcome: 'created' });
        case 'enroll.denied':
          return enrollments.inc({ method, outcome: 'denied' });
        case 'enroll.source_refused':
          return enrollments.inc({ method, outcome: 'source_refused' });
        case 'enroll.site_conflict':
          return enrollments.inc({ method, outcome: 'site_conflict' });
        case 'verify.ok':
          return verifications.inc({ outcome: str(details?.status, 'unknown') });
        case 'verify.denied':
          return verifications.inc({ outcome: 'denied' });
        case 'verify.expired':
          return verifications.inc({ outcome: 'expired' });
        case 'enrollment.approved':
          return decisions.inc({ decision: 'approved' });
        case 'enrollment.rejected':
          return decisions.inc({ decision: 'rejected' });
        case 'enrollment.expired':
          return decisions.inc({ decision: 'expired' });
        case 'credentials.issued':
          return credentials.inc();
        case 'tunnel.remote_ports_exhausted':
          return remotePortsExhausted.inc();
        case 'tunnel.connected':
          return tunnelTransitions.inc({ state: 'connected' });
        case 'tunnel.disconnected':
          return tunnelTransitions.inc({ state: 'disconnected' });
        default:
          return undefined;
      }
    },
    approved: (method, seconds) => timeToApproval.observe({ method }, Math.max(0, seconds)),
    query: (seconds, ok) => queryDuration.observe({ outcome: ok ? 'ok' : 'error' }, seconds),
    webhookDelivery: (result) => webhookAttempts.inc({ result }),
  };
};

/** The metrics listener: GET /metrics, the error envelope for anything else. */
export const serveMetrics = async (metrics: ApiMetrics, host: string, port: number): Promise<http.Server & { port: number }> => {
  const send = (res: http.ServerResponse, status: number, body: string, type: string) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => send(res, 200, text, metrics.registry.contentType),
        () => send(res, 500, JSON.stringify(errorEnvelope('internal_error', 'Internal error')), 'application/json'),
      );
      return;
    }
    send(res, 404, JSON.stringify(errorEnvelope('not_found', 'Not found')), 'application/json');
  });
  return Object.assign(server, { port: await listenOn(server, port, host) });
};
