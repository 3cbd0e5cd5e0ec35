/**
 * Edge benchmark: what the edge costs on one machine, in one run.
 *
 *   forward ratio  = req/s through the edge ÷ req/s straight to the api (target ≥ 0.45)
 *   refusal ratio  = 429 answers/s ÷ forwarded req/s                    (target ≥ 1.5)
 *   added latency  = edge p50/p99 − direct p50/p99, at one connection
 *
 * Every party is its own process: a stand-in api (or the real one via
 * `apiUrl`), the edge(s) as built by `pnpm build` on plain node, and autocannon as
 * the load generator. Run alone with `tsx apps/edge/bench/edge-bench.ts`
 * (set EDGE_BENCH_API_URL=http://127.0.0.1:8082 to measure against the real api).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '@airlock/testing';
import { buildForBench } from '../../../scripts/bench-build.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ROUTE = '/api/v1/enroll/status';

export interface EdgeBenchOptions {
  /** Seconds per throughput measurement. */
  durationSec?: number;
  /** Interleaved rounds (direct, edge, 429); medians are reported, so noise from other load hurts less. */
  rounds?: number;
  /** Seconds per single-connection latency measurement. */
  latencySec?: number;
  connections?: number;
  /** Use a running api instead of the stand-in; it must answer GET /api/v1/enroll/status. */
  apiUrl?: string;
  redisUrl?: string;
  /** Where the JSON goes; relative to the repository root. */
  outFile?: string;
  quiet?: boolean;
}

export interface EdgeBenchResult {
  route: string;
  connections: number;
  duration_sec: number;
  rounds: number;
  runs: { direct_rps: number[]; edge_forward_rps: number[]; edge_429_rps: number[]; bare_proxy_rps: number[] };
  direct_rps: number;
  edge_forward_rps: number;
  edge_429_rps: number;
  /** Baseline: http-proxy-3 alone, no edge logic (context, not a target). */
  bare_proxy_rps: number;
  forward_ratio: number;
  /** Edge ÷ bare http-proxy-3: what the edge's own screening, throttling and logging cost. */
  edge_vs_bare_ratio: number;
  refusal_ratio: number;
  latency_ms: {
    direct_p50: number;
    direct_p99: number;
    edge_p50: number;
    edge_p99: number;
    added_p50: number;
    added_p99: number;
  };
  targets: { forward_ratio: number; refusal_ratio: number };
  pass: boolean;
  machine: { cpus: number; node: string; loadavg_1m: number };
  at: string;
}

interface CannonResult {
  duration: number;
  errors: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const probe = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const r = http.get(url, { headers: { authorization: 'Bearer bench' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve((res.statusCode ?? 500) < 500));
    });
    r.on('error', () => resolve(false));
    r.setTimeout(1_000, () => r.destroy());
  });

const waitUp = async (url: string, what: string) => {
  const until = Date.now() + 30_000;
  while (!(await probe(url))) {
    if (Date.now() > until) throw new Error(`${what} did not come up at ${url}`);
    await sleep(100);
  }
};

const startNode = (script: string, env: Record<string, string>): ChildProcess =>
  spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: 'ignore',
  });

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
};

const cannon = (url: string, connections: number, durationSec: number): Promise<CannonResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      join(ROOT, 'node_modules/.bin/autocannon'),
      ['--json', '-n', '-c', String(connections), '-d', String(durationSec), '-H', 'authorization=Bearer bench', url],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out) as CannonResult);
      } catch {
        reject(new Error(`autocannon exited ${code} without JSON`));
      }
    });
  });

const count = (r: CannonResult, status: string) => r.statusCodeStats[status]?.count ?? 0;
const dominantStatus = (r: CannonResult): string =>
  Object.entries(r.statusCodeStats).sort((a, b) => b[1].count - a[1].count)[0]?.[0] ?? '202';
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export const runEdgeBench = async (opts: EdgeBenchOptions = {}): Promise<EdgeBenchResult> => {
  const duration = opts.durationSec ?? 5;
  const rounds = opts.rounds ?? 3;
  const latencySec = opts.latencySec ?? 5;
  const connections = opts.connections ?? 10;
  const redisUrl = opts.redisUrl ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const prefix = `airlock:bench:${randomUUID().slice(0, 8)}:`;
  const say = (s: string) => {
    if (!opts.quiet) process.stderr.write(`${s}\n`);
  };
  const children: ChildProcess[] = [];
  const buildDir = mkdtempSync(join(tmpdir(), 'airlock-edge-bench-'));

  try {
    const built = await buildForBench(buildDir, ['standin-api', 'bare-proxy']);
    let apiUrl = opts.apiUrl;
    if (apiUrl === undefined) {
      const apiPort = await freePort();
      children.push(startNode(built['standin-api'], { PORT: String(apiPort) }));
      apiUrl = `http://127.0.0.1:${apiPort}`;
    }
    await waitUp(`${apiUrl}${ROUTE}`, 'api');

    const edgeEnv = (port: number, statusPerMin: string, pfx: string): Record<string, string> => ({
      EDGE_HOST: '127.0.0.1',
      EDGE_PORT: String(port),
      EDGE_METRICS_PORT: '0',
      EDGE_UPSTREAM: apiUrl ?? '',
      REDIS_URL: redisUrl,
      EDGE_REDIS_PREFIX: pfx,
      EDGE_LIMIT_STATUS_PER_MIN: statusPerMin,
      // A real api answers an unknown poll token with 401, which would count toward the
      // 24 h block and toward the verify/status failure budget (its short block).
      EDGE_BLOCK_FAILURES: '1000000',
      EDGE_POLL_BLOCK_FAILURES: '1000000',
      // autocannon's connections all come from 127.0.0.1; the cap is not what we measure.
      EDGE_MAX_CONNECTIONS_PER_IP: String(Math.max(100, connections * 4)),
      EDGE_MAX_REQUESTS_PER_SOCKET: '1000000',
    });
    const [forwardPort, refusePort, barePort] = await Promise.all([freePort(), freePort(), freePort()]);
    children.push(startNode(built['bare-proxy'], { UPSTREAM: apiUrl, PORT: String(barePort) }));
    // One edge with a budget it never exhausts, one whose budget is spent at once.
    children.push(startNode(built.edge, edgeEnv(forwardPort, '1000000', `${prefix}fwd:`)));
    children.push(startNode(built.edge, edgeEnv(refusePort, '1', `${prefix}429:`)));
    await waitUp(`http://127.0.0.1:${forwardPort}/healthz`, 'forwarding edge');
    await waitUp(`http://127.0.0.1:${refusePort}/healthz`, 'refusing edge');
    await waitUp(`http://127.0.0.1:${barePort}${ROUTE}`, 'bare proxy');

    const directUrl = `${apiUrl}${ROUTE}`;
    const forwardUrl = `http://127.0.0.1:${forwardPort}${ROUTE}`;
    const refuseUrl = `http://127.0.0.1:${refusePort}${ROUTE}`;
    const bareUrl = `http://127.0.0.1:${barePort}${ROUTE}`;

    say('warming up');
    await cannon(directUrl, connections, 2);
    await cannon(forwardUrl, connections, 2);
    await cannon(refuseUrl, connections, 2);
    await cannon(bareUrl, connections, 2);

    const directRuns: number[] = [];
    const forwardRuns: number[] = [];
    const refusedRuns: number[] = [];
    const bareRuns: number[] = [];
    let expected = '202';
    for (let round = 1; round <= rounds; round += 1) {
      say(`round ${round}/${rounds}: direct, edge, edge 429, bare http-proxy-3; ${connections} connections, ${duration}s each`);
      const direct = await cannon(directUrl, connections, duration);
      // The api's usual answer (202 from the stand-in, 401 from a real api without a token).
      expected = dominantStatus(direct);
      directRuns.push(count(direct, expected) / direct.duration);
      const forward = await cannon(forwardUrl, connections, duration);
      forwardRuns.push(count(forward, expected) / forward.duration);
      const refused = await cannon(refuseUrl, connections, duration);
      refusedRuns.push(count(refused, '429') / refused.duration);
      const bare = await cannon(bareUrl, connections, duration);
      bareRuns.push(count(bare, expected) / bare.duration);
    }
    say(`latency at 1 connection, ${latencySec}s each`);
    const directLat = await cannon(directUrl, 1, latencySec);
    const forwardLat = await cannon(forwardUrl, 1, latencySec);

    const directRps = median(directRuns);
    const forwardRps = median(forwardRuns);
    const refusedRps = median(refusedRuns);
    const bareRps = median(bareRuns);
    const forwardRatio = forwardRps / directRps;
    const refusalRatio = refusedRps / forwardRps;
    const result: EdgeBenchResult = {
      route: `GET ${ROUTE}`,
      connections,
      duration_sec: duration,
      rounds,
      runs: {
        direct_rps: directRuns.map((x) => round(x, 0)),
        edge_forward_rps: forwardRuns.map((x) => round(x, 0)),
        edge_429_rps: refusedRuns.map((x) => round(x, 0)),
        bare_proxy_rps: bareRuns.map((x) => round(x, 0)),
      },
      direct_rps: round(directRps, 0),
      edge_forward_rps: round(forwardRps, 0),
      edge_429_rps: round(refusedRps, 0),
      bare_proxy_rps: round(bareRps, 0),
      forward_ratio: round(forwardRatio),
      edge_vs_bare_ratio: round(forwardRps / bareRps),
      refusal_ratio: round(refusalRatio),
      latency_ms: {
        direct_p50: directLat.latency.p50,
        direct_p99: directLat.latency.p99,
        edge_p50: forwardLat.latency.p50,
        edge_p99: forwardLat.latency.p99,
        added_p50: round(forwardLat.latency.p50 - directLat.latency.p50),
        added_p99: round(forwardLat.latency.p99 - directLat.latency.p99),
      },
      targets: { forward_ratio: 0.45, refusal_ratio: 1.5 },
      pass: forwardRatio >= 0.45 && refusalRatio >= 1.5,
      machine: { cpus: cpus().length, node: process.version, loadavg_1m: round(loadavg()[0] ?? 0) },
      at: new Date().toISOString(),
    };

    const outFile = join(ROOT, opts.outFile ?? 'bench-results/edge.json');
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    printTable(result);
    say(`wrote ${outFile}`);
    return result;
  } finally {
    await Promise.all(children.map(stop));
    rmSync(buildDir, { recursive: true, force: true });
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } catch {
      // Nothing to clean without Redis.
    } finally {
      redis.disconnect();
    }
  }
};

const printTable = (r: EdgeBenchResult) => {
  const rows: Array<[string, string, string]> = [
    ['direct to api (req/s)', String(r.direct_rps), ''],
    ['through edge (req/s)', String(r.edge_forward_rps), ''],
    ['edge 429 answers (/s)', String(r.edge_429_rps), ''],
    ['bare http-proxy-3 (req/s)', String(r.bare_proxy_rps), 'baseline'],
    ['forward ratio', String(r.forward_ratio), `>= ${r.targets.forward_ratio}`],
    ['429 ratio', String(r.refusal_ratio), `>= ${r.targets.refusal_ratio}`],
    ['edge / bare proxy', String(r.edge_vs_bare_ratio), 'context'],
    ['added latency p50 (ms)', String(r.latency_ms.added_p50), ''],
    ['added latency p99 (ms)', String(r.latency_ms.added_p99), ''],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  const lines = [
    `edge bench — ${r.route}, ${r.connections} connections, median of ${r.rounds} × ${r.duration_sec}s, ${r.machine.cpus} CPUs, load avg ${r.machine.loadavg_1m}`,
  ];
  for (const [a, b, c] of rows) lines.push(`  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
  lines.push(`  ${'result'.padEnd(w0)}  ${r.pass ? 'PASS' : 'FAIL'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
};

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // EDGE_BENCH_API_URL: measure against a running api instead of the stand-in.
  const apiUrl = process.env['EDGE_BENCH_API_URL'];
  runEdgeBench(apiUrl ? { apiUrl } : {}).catch((err: unknown) => {
    process.stderr.write(`edge bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
