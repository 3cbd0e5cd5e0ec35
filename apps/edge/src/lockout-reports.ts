/**
 * Issue 20: the edge tells the api about every lockout and block it imposes,
 * whether its counters live in Redis or in this process, so the api can write
 * a `security.lockout` audit row and its webhook. An internal route with an
 * `edge`-role token (not a Redis stream the api reads) because an edge
 * without Redis has no stream to write, and the edge already reaches the api
 * (EDGE_UPSTREAM, with its CA or pin); the token reaches nothing but this route.
 *
 * Reports queue in memory (bounded) and are sent one at a time on their own
 * connection, never on a client's request path; an api that is down is
 * retried with a growing pause. Each report carries an id, so a retry after
 * a lost answer is recorded once. Reports still queued when the edge stops
 * are lost (the lockout itself is not).
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import type { Logger } from './log.ts';
import { upstreamConnector, type UpstreamTrust } from './upstream-tls.ts';

export interface LockoutReport {
  kind: 'lockout' | 'block' | 'poll_block' | 'agent_block';
  siteCode: string | null;
  sourceIp: string;
  untilMs: number;
  failures: number;
  counters: 'redis' | 'memory';
}

export interface LockoutReporter {
  report(r: LockoutReport): void;
  close(): Promise<void>;
}

const MAX_QUEUE = 1000;
const MAX_PAUSE_MS = 30_000;
const PATH = '/api/v1/internal/security/lockouts';

export const createLockoutReporter = (upstream: URL, trust: UpstreamTrust, token: string, logger: Logger, timeoutMs = 10_000): LockoutReporter => {
  const pool = new Pool(upstream.origin, { connections: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connect: upstreamConnector(upstream, trust, timeoutMs) });
  pool.on('connectionError', () => undefined);
  const queue: Array<{ id: string; r: LockoutReport }> = [];
  let running = false;
  let closed = false;
  let pause = 0;
  let timer: NodeJS.Timeout | null = null;

  const send = async (id: string, r: LockoutReport): Promise<'done' | 'retry'> => {
    const body = JSON.stringify({
      report_id: id,
      kind: r.kind,
      ...(r.siteCode !== null ? { site_code: r.siteCode } : {}),
      source_ip: r.sourceIp,
      until: new Date(r.untilMs).toISOString(),
      failures: r.failures,
      counters: r.counters,
    });
    try {
      const res = await pool.request({
        path: PATH,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      await res.body.dump();
      if (res.statusCode === 202) return 'done';
      // A refusal that a retry cannot fix (bad token, bad report): said once, dropped.
      if (res.statusCode < 500 && res.statusCode !== 429) {
        logger.log('error', 'lockout report refused by the api; check EDGE_API_TOKEN (edge role)', { status: res.statusCode });
        return 'done';
      }
      return 'retry';
    } catch {
      return 'retry';
    }
  };

  const pump = async () => {
    if (running || closed) return;
    running = true;
    try {
      while (queue.length > 0 && !closed) {
        const head = queue[0];
        if (!head) break;
        if ((await send(head.id, head.r)) === 'retry') {
          pause = Math.min(Math.max(500, pause * 2), MAX_PAUSE_MS);
          if (pause === 500) logger.log('warn', 'lockout reports wait: the api does not take them', { queued: queue.length });
          timer = setTimeout(() => void pump(), pause);
          timer.unref();
          return;
        }
        pause = 0;
        queue.shift();
      }
    } finally {
      running = false;
    }
  };

  return {
    report: (r) => {
      if (closed) return;
      if (queue.length >= MAX_QUEUE) {
        queue.shift();
        logger.log('warn', 'lockout report queue full: the oldest report is dropped', { queued: queue.length });
      }
      queue.push({ id: randomUUID(), r });
      // While a retry pause runs, its timer sends this one too.
      if (pause === 0) void pump();
    },
    close: async () => {
      closed = true;
      if (timer) clearTimeout(timer);
      await pool.close();
    },
  };
};
