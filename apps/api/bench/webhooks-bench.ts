/**
 * Issue 20, reported and never asserted in tests:
 *
 *   webhook ratio = complete zero-touch enrollments/s with one webhook
 *                   subscribed to enrollment.approved ÷ without   (target ≥ 0.9)
 *   delivery latency p50 / p99 at 100 events/s, from the request that
 *                   commits the event to its arrival at a loopback receiver
 *
 * Same production build and load as api-bench.ts (8 concurrent agents,
 * auto policy), rounds interleaved (without, with, without, …) so background
 * load hits both alike. The latency run commits `webhook.test` events at a
 * fixed rate (open loop: one request every 10 ms whatever the answers do).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAppForBench } from '../../../scripts/bench-build.ts';
import { createTestDatabase, freePort } from '@airlock/testing';
import { call, enrollOnce, median, start, stop, waitUp } from './api-bench.ts';

export interface WebhooksBenchResult {
  enrollments_per_s: { without: number[]; with: number[] };
  ratio: number;
  latency_ms: { rate_per_s: number; events: number; delivered: number; p50: number; p99: number; max: number };
  targets: { ratio: number };
  pass: boolean;
  at: string;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;

/** A receiver that answers 204 at once and notes when each webhook-id first arrived. */
const startSink = async () => {
  const arrivals = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const id = String(req.headers['webhook-id']);
    if (!arrivals.has(id)) arrivals.set(id, performance.now());
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sink`, arrivals, close: () => new Promise<void>((r) => server.close(() => r())) };
};

export const runWebhooksBench = async (opts: { rounds?: number; seconds?: number; rate?: number; latencySeconds?: number } = {}): Promise<WebhooksBenchResult> => {
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 5;
  const rate = opts.rate ?? 100;
  const db = await createTestDatabase('airlock_bench_webhooks');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-webhooks-bench-'));
  const buildDir = mkdtempSync(path.join(tmpdir(), 'airlock-webhooks-bench-build-'));
  const apiPort = await freePort();
  const built = await buildAppForBench('api', buildDir, [], fileURLToPath(new URL('./', import.meta.url)));
  const api = start(built.main, { DATABASE_URL: db.url, AIRLOCK_DATA_DIR: dataDir, API_PORT: String(apiPort), AIRLOCK_LOG_LEVEL: 'warn', AIRLOCK_BOOTSTRAP_ADMIN: '1' });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const sink = await startSink();
  try {
    await waitUp(`${apiUrl}/readyz`, api);
    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    await call(apiUrl, 'POST', '/api/v1/admin/sites', { site_code: 'HOOKS', name: 'Bench', policy: 'auto' }, token);
    const key = String((await call(apiUrl, 'POST', '/api/v1/admin/sites/HOOKS/enrollment-key', { max_uses: 1_000_000 }, token)).json['key']);
    let n = 0;
    for (let i = 0; i < 20; i++) await enrollOnce(apiUrl, 'HOOKS', key, n++);
    const enrollFor = async (): Promise<number> => {
      const until = performance.now() + seconds * 1000;
      let count = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (performance.now() < until) {
            await enrollOnce(apiUrl, 'HOOKS', key, n++);
            count++;
          }
        }),
      );
      return count / ((performance.now() - t0) / 1000);
    };
    const perSecond = { without: [] as number[], with: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      perSecond.without.push(await enrollFor());
      const hook = await call(apiUrl, 'POST', '/api/v1/admin/webhooks', { url: sink.url, events: ['enrollment.approved'] }, token);
      perSecond.with.push(await enrollFor());
      await call(apiUrl, 'DELETE', `/api/v1/admin/webhooks/${String(hook.json['id'])}`, undefined, token);
    }

    // Latency: webhook.test events committed at `rate` per second, open loop.
    const hook = await call(apiUrl, 'POST', '/api/v1/admin/webhooks', { url: sink.url, events: ['webhook.test'] }, token);
    const hookId = String(hook.json['id']);
    const sent = new Map<string, number>();
    const total = rate * (opts.latencySeconds ?? 10);
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const at = performance.now();
      pending.push(call(apiUrl, 'POST', `/api/v1/admin/webhooks/${hookId}/test`, undefined, token).then((r) => void sent.set(String(r.json['event_id']), at)));
    }
    await Promise.all(pending);
    const deadline = performance.now() + 30_000;
    while ([...sent.keys()].some((id) => !sink.arrivals.has(id)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const latencies = [...sent].flatMap(([id, at]) => {
      const arrived = sink.arrivals.get(id);
      return arrived === undefined ? [] : [arrived - at];
    });
    const ratio = median(perSecond.with) / median(perSecond.without);
    return {
      enrollments_per_s: perSecond,
      ratio,
      latency_ms: { rate_per_s: rate, events: total, delivered: latencies.length, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: Math.max(0, ...latencies) },
      targets: { ratio: 0.9 },
      pass: ratio >= 0.9,
      at: new Date().toISOString(),
    };
  } finally {
    await stop(api);
    await sink.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(buildDir, { recursive: true, force: true });
  }
};

export const printWebhooksBench = (r: WebhooksBenchResult, write: (s: string) => void = (s) => process.stdout.write(s)) => {
  const med = (xs: number[]) => median(xs).toFixed(1);
  write(`  enrollments/s with a webhook ÷ without  ${med(r.enrollments_per_s.with)} / ${med(r.enrollments_per_s.without)} = ${r.ratio.toFixed(2)}  (target ≥ ${r.targets.ratio}: ${r.pass ? 'met' : 'NOT met'})\n`);
  const l = r.latency_ms;
  write(`  delivery latency at ${l.rate_per_s} events/s    p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms (${l.delivered}/${l.events} delivered)\n`);
};

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runWebhooksBench()
    .then((r) => printWebhooksBench(r))
    .catch((err: unknown) => {
      process.stderr.write(`webhooks bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
