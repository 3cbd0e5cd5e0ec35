/**
 * The edge next to nginx (issue #12), in one run on this machine, with wrk as
 * the one load generator. Every party is its own process:
 *
 *   upstream     nginx, 1 worker, answers 202 at once
 *   direct       wrk straight to the upstream
 *   nginx-1      nginx, 1 worker, limit_req per IP, keep-alive upstream
 *   nginx-auto   the same with worker_processes auto
 *   edge-1       the Airlock edge, one process (Redis counters, access log on)
 *   edge-auto    the edge with EDGE_WORKERS=auto
 *   bare         the forwarding library alone (undici Pool, no edge logic)
 *   bare-forward a keep-alive node:http forwarder (bare-forward.ts): Node's
 *                own forwarding ceiling
 *   bare-node    a node:http server sending the edge's exact 429 (bare-node.ts),
 *                and holding the same idle connections: Node's own ceiling
 *
 * and, for context: edge-1-memory (the edge with in-process counters, i.e.
 * without its Redis round trip).
 *
 * Targets (issue 24) are ratios to Node itself, measured in the same run:
 * 429s ÷ bare-node, forwards ÷ bare-forward, idle RSS ÷ bare-node's, and the
 * latency the edge adds at one connection. nginx is printed as context.
 * `quick` (pnpm bench --quick): one round of 3 s, no auto (cluster) parties.
 *
 * Forward and 429 rates are medians of interleaved rounds (so load from other
 * processes hurts every party alike); latency is p50/p99 at one connection;
 * idle memory is the edge's RSS holding 10,000 idle keep-alive connections
 * from 1,000 loopback addresses. Prints each ratio against its target and
 * writes bench-results/edge-side-by-side.json.
 *
 * Run alone: tsx apps/edge/bench/side-by-side.ts
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '@airlock/testing';
import { buildForBench } from '../../../scripts/bench-build.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
const ROUTE = '/api/v1/enroll/status';
const NGINX = process.env['NGINX_BIN'] ?? '/usr/sbin/nginx';
const WRK = process.env['WRK_BIN'] ?? '/usr/bin/wrk';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const TARGETS = {
  refusal_vs_bare_node: 0.85,
  forward_vs_bare_forward: 0.75,
  idle_rss_vs_bare_node_max: 1.1,
  added_p99_ms_max: 2,
} as const;

interface Wrk {
  rps: number;
  non2xx: number;
  requests: number;
  p50ms: number;
  p99ms: number;
}

const toMs = (v: string): number => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
};

const wrk = async (port: number, seconds: number, connections: number): Promise<Wrk> => {
  const { stdout } = await run(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', 'Authorization: Bearer bench', `http://127.0.0.1:${port}${ROUTE}`], {
    timeout: (seconds + 30) * 1000,
  });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 'NaN');
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? '0'),
    requests: num(/(\d+) requests in/),
    p50ms: toMs(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? ''),
    p99ms: toMs(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? ''),
  };
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

const waitPort = async (port: number, what: string, ms = 30_000): Promise<void> => {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on ${port}`);
    await sleep(100);
  }
};

const procs: ChildProcess[] = [];
const start = (cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
  const child = spawn(cmd, args, { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'ignore' });
  procs.push(child);
  return child;
};
const stopAll = async () => {
  await Promise.all(
    procs.splice(0).map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) {
            resolve();
            return;
          }
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
};

const nginxConf = (dir: string, template: string, vars: Record<string, string>): string => {
  let text = readFileSync(join(HERE, 'nginx', template), 'utf8');
  for (const [k, v] of Object.entries({ DIR: dir, ...vars })) text = text.replaceAll(`{{${k}}}`, v);
  const path = join(dir, `${vars['NAME'] ?? 'upstream'}-${template}`);
  writeFileSync(path, text);
  return path;
};

const edgeEnv = (port: number, upstreamPort: number, prefix: string, extra: Record<string, string>) => ({
  EDGE_HOST: '127.0.0.1',
  EDGE_PORT: String(port),
  EDGE_METRICS_PORT: '0',
  EDGE_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  EDGE_REDIS_PREFIX: prefix,
  ...extra,
});

const startEdgeProcess = (main: string, env: Record<string, string>) => start(process.execPath, [main], env);

/** utime + stime of a process in ms (Linux clock ticks are 100 Hz). */
const cpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

const rssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 'NaN') / 1024;
};

/** Opens `ips × perIp` keep-alive connections, each after one answered request, and leaves them idle. */
const openIdle = async (port: number, ips: number, perIp: number): Promise<{ sockets: Socket[]; answered: number }> => {
  const sockets: Socket[] = [];
  let answered = 0;
  const one = (localAddress: string) =>
    new Promise<void>((resolve) => {
      const s = connect({ port, host: '127.0.0.1', localAddress });
      sockets.push(s);
      s.on('error', () => resolve());
      s.once('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: edge.bench\r\n\r\n'));
      s.once('data', (d: Buffer) => {
        if (d.toString('latin1').startsWith('HTTP/1.1 200')) answered += 1;
        resolve();
      });
    });
  for (let i = 0; i < ips; i += 1) {
    const addr = `127.10.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    await Promise.all(Array.from({ length: perIp }, () => one(addr)));
  }
  return { sockets, answered };
};

/**
 * A server's RSS before and after it holds 10,000 idle keep-alive connections
 * (1,000 addresses × 10); `check` runs while they are held (does it still serve?).
 */
const holdIdle = async (
  proc: ChildProcess,
  port: number,
  what: string,
  check: () => Promise<boolean> = async () => true,
): Promise<{ before: number; after: number; opened: number; answered: number; servesAfter: boolean }> => {
  await waitPort(port, what);
  await sleep(500);
  const before = rssMb(proc.pid ?? 0);
  const held = await openIdle(port, 1_000, 10);
  await sleep(2_000);
  const after = rssMb(proc.pid ?? 0);
  const servesAfter = await check();
  for (const s of held.sockets) s.destroy();
  return { before, after, opened: held.sockets.length, answered: held.answered, servesAfter };
};

export interface SideBySide {
  rounds: number;
  seconds: number;
  connections: number;
  forward_rps: Record<string, number[]>;
  refusal_rps: Record<string, number[]>;
  medians: { forward: Record<string, number>; refusal: Record<string, number>; forward_cpu_us_per_request: Record<string, number>; refusal_cpu_us_per_request: Record<string, number> };
  latency_1conn_ms: { direct_p50: number; direct_p99: number; edge_p50: number; edge_p99: number; added_p50: number; added_p99: number };
  idle: {
    connections: number;
    answered: number;
    rss_before_mb: number;
    rss_after_mb: number;
    rss_ratio_vs_bare_node: number;
    serves_after: boolean;
    bare_node: { answered: number; rss_before_mb: number; rss_after_mb: number };
  };
  ratios: Record<string, number>;
  targets: typeof TARGETS;
  met: Record<string, boolean>;
  machine: { cpus: number; node: string; loadavg_1m_start: number; loadavg_1m_end: number; edge_workers_auto: number };
  at: string;
}

export const runSideBySide = async (opts: { outFile?: string; rounds?: number; seconds?: number; quick?: boolean } = {}): Promise<SideBySide | null> => {
  if (!existsSync(NGINX) || !existsSync(WRK)) {
    process.stdout.write(`  skipped: needs nginx (${NGINX}) and wrk (${WRK}); apt-get install nginx-light wrk\n`);
    return null;
  }
  const quick = opts.quick ?? false;
  const rounds = opts.rounds ?? Number(process.env['EDGE_BENCH_ROUNDS'] ?? (quick ? 1 : 3));
  const seconds = opts.seconds ?? Number(process.env['EDGE_BENCH_SECONDS'] ?? (quick ? 3 : 5));
  const connections = 10;
  const load0 = loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sbs-'));
  const prefix = `airlock:bench:${process.pid}:`;
  const ports = {
    upstream: await freePort(),
    nginx1: await freePort(),
    nginx1Limit: await freePort(),
    nginxAuto: await freePort(),
    nginxAutoLimit: await freePort(),
    edge1: await freePort(),
    edge1Limit: await freePort(),
    edgeAuto: await freePort(),
    edgeAutoLimit: await freePort(),
    bare: await freePort(),
    bareNode: await freePort(),
    bareForward: await freePort(),
    edgeMemory: await freePort(),
    idle: await freePort(),
    idleBare: await freePort(),
  };
  try {
    const built = await buildForBench(dir, ['bare-undici', 'bare-node', 'bare-forward']);
    start(NGINX, ['-p', dir, '-c', nginxConf(dir, 'upstream.conf', { UPSTREAM_PORT: String(ports.upstream) })]);
    const nginxes = [
      ['one', '1', ports.nginx1, ports.nginx1Limit],
      ['auto', 'auto', ports.nginxAuto, ports.nginxAutoLimit],
    ] as const;
    for (const [name, workers, fwd, lim] of quick ? nginxes.slice(0, 1) : nginxes) {
      start(NGINX, [
        '-p', dir, '-c',
        nginxConf(dir, 'proxy.conf', { NAME: name, WORKERS: workers, UPSTREAM_PORT: String(ports.upstream), FORWARD_PORT: String(fwd), LIMIT_PORT: String(lim) }),
      ]);
    }
    const big = { EDGE_LIMIT_STATUS_PER_MIN: '1000000' };
    const one = { EDGE_LIMIT_STATUS_PER_MIN: '1' };
    // Single-process parties whose CPU per request is read from /proc (cpuMs), by port.
    const cpuOf = new Map<number, ChildProcess>();
    cpuOf.set(ports.edge1, startEdgeProcess(built.edge, edgeEnv(ports.edge1, ports.upstream, `${prefix}f1:`, big)));
    cpuOf.set(ports.edge1Limit, startEdgeProcess(built.edge, edgeEnv(ports.edge1Limit, ports.upstream, `${prefix}l1:`, one)));
    if (!quick) {
      startEdgeProcess(built.edge, edgeEnv(ports.edgeAuto, ports.upstream, `${prefix}fa:`, { ...big, EDGE_WORKERS: 'auto' }));
      startEdgeProcess(built.edge, edgeEnv(ports.edgeAutoLimit, ports.upstream, `${prefix}la:`, { ...one, EDGE_WORKERS: 'auto' }));
    }
    start(process.execPath, [built['bare-undici']], { UPSTREAM: `http://127.0.0.1:${ports.upstream}`, PORT: String(ports.bare) });
    // Node's own ceilings, the references of the targets: the same 429 bytes, a keep-alive forwarder.
    cpuOf.set(ports.bareNode, start(process.execPath, [built['bare-node']], { PORT: String(ports.bareNode) }));
    cpuOf.set(ports.bareForward, start(process.execPath, [built['bare-forward']], { UPSTREAM: `http://127.0.0.1:${ports.upstream}`, PORT: String(ports.bareForward) }));
    // Context: the edge without its Redis hop.
    const { REDIS_URL: _shared, ...inMemory } = edgeEnv(ports.edgeMemory, ports.upstream, `${prefix}m1:`, big);
    cpuOf.set(ports.edgeMemory, startEdgeProcess(built.edge, inMemory));
    const skipped = (name: string) => name.startsWith('idle') || (quick && /Auto/.test(name));
    for (const [name, port] of Object.entries(ports)) if (!skipped(name)) await waitPort(port, name, 60_000);
    // Workers of the auto edges listen on the shared port one by one; let them all come up.
    await sleep(3_000);

    const fwdPorts: Record<string, number> = {
      direct: ports.upstream, nginx_1: ports.nginx1, edge_1: ports.edge1, bare_forward: ports.bareForward, bare: ports.bare, edge_1_memory: ports.edgeMemory,
      ...(quick ? {} : { nginx_auto: ports.nginxAuto, edge_auto: ports.edgeAuto }),
    };
    const limPorts: Record<string, number> = {
      nginx_1: ports.nginx1Limit, edge_1: ports.edge1Limit, bare_node: ports.bareNode,
      ...(quick ? {} : { nginx_auto: ports.nginxAutoLimit, edge_auto: ports.edgeAutoLimit }),
    };
    const forward: Record<string, number[]> = Object.fromEntries(Object.keys(fwdPorts).map((k) => [k, []]));
    const refusal: Record<string, number[]> = Object.fromEntries(Object.keys(limPorts).map((k) => [k, []]));
    // CPU µs per request of each single-process party, in the same runs: on a
    // busy shared machine throughput ratios of runs taken one after another
    // swing with the load; what a request costs the server's own process is
    // far steadier, and is the cost the targets are about.
    const forwardCpu: Record<string, number[]> = {};
    const refusalCpu: Record<string, number[]> = {};
    const measured = async (name: string, port: number, into: Record<string, number[]>): Promise<Wrk> => {
      const proc = cpuOf.get(port);
      const before = proc?.pid === undefined ? 0 : cpuMs(proc.pid);
      const w = await wrk(port, seconds, connections);
      if (proc?.pid !== undefined && w.requests > 0) (into[name] ??= []).push(((cpuMs(proc.pid) - before) * 1000) / w.requests);
      return w;
    };
    // Warm-up: JIT, keep-alive pools, scripts loaded into Redis.
    for (const port of [...Object.values(fwdPorts), ...Object.values(limPorts)]) await wrk(port, 1, connections);
    for (let r = 0; r < rounds; r += 1) {
      for (const [name, port] of Object.entries(fwdPorts)) {
        const w = await measured(name, port, forwardCpu);
        // A forward run must be forwards: any non-2xx would flatter the number.
        forward[name]?.push(w.non2xx > 0 ? Number.NaN : w.rps);
      }
      for (const [name, port] of Object.entries(limPorts)) {
        const w = await measured(name, port, refusalCpu);
        refusal[name]?.push(w.requests > 0 ? (w.rps * w.non2xx) / w.requests : 0);
      }
      process.stdout.write(`  round ${r + 1}/${rounds} done\n`);
    }
    const direct1 = await wrk(ports.upstream, seconds, 1);
    const edge1 = await wrk(ports.edge1, seconds, 1);

    // Idle keep-alive connections: a fresh edge that keeps idle sockets open for the test.
    const idleEdge = startEdgeProcess(
      built.edge,
      edgeEnv(ports.idle, ports.upstream, `${prefix}idle:`, { EDGE_KEEPALIVE_TIMEOUT_MS: '300000', EDGE_ACCESS_LOG: 'false' }),
    );
    const idle = await holdIdle(idleEdge, ports.idle, 'idle edge', async () => {
      const check = await wrk(ports.idle, 1, 1);
      return check.requests > 0 && check.non2xx === 0;
    });
    const { before: rssBefore, after: rssAfter, opened: idleOpened, answered: idleAnswered, servesAfter } = idle;
    // The same 10,000 idle connections on a bare node:http server: Node's own share.
    const idleBare = start(process.execPath, [built['bare-node']], { PORT: String(ports.idleBare), KEEPALIVE_MS: '300000' });
    const { before: bareRssBefore, after: bareRssAfter, answered: bareAnswered } = await holdIdle(idleBare, ports.idleBare, 'idle bare node');

    const med = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, median(v.filter((x) => !Number.isNaN(x)))]));
    const f = med(forward);
    const x = med(refusal);
    const fc = med(forwardCpu);
    const xc = med(refusalCpu);
    const ratios = {
      refusal_vs_bare_node: (x['edge_1'] ?? 0) / (x['bare_node'] ?? 1),
      forward_vs_bare_forward: (f['edge_1'] ?? 0) / (f['bare_forward'] ?? 1),
      idle_rss_vs_bare_node: rssAfter / bareRssAfter,
      forward_vs_nginx_1: (f['edge_1'] ?? 0) / (f['nginx_1'] ?? 1),
      forward_auto_vs_nginx_auto: (f['edge_auto'] ?? 0) / (f['nginx_auto'] ?? 1),
      refusal_vs_nginx_1: (x['edge_1'] ?? 0) / (x['nginx_1'] ?? 1),
      refusal_auto_vs_nginx_auto: (x['edge_auto'] ?? 0) / (x['nginx_auto'] ?? 1),
      edge_vs_bare: (f['edge_1'] ?? 0) / (f['bare'] ?? 1),
      refusal_cpu_bare_node_vs_edge: (xc['bare_node'] ?? 0) / (xc['edge_1'] ?? 1),
      forward_cpu_bare_forward_vs_edge: (fc['bare_forward'] ?? 0) / (fc['edge_1'] ?? 1),
      edge_memory_vs_bare_forward: (f['edge_1_memory'] ?? 0) / (f['bare_forward'] ?? 1),
      bare_node_vs_nginx_1_refusal: (x['bare_node'] ?? 0) / (x['nginx_1'] ?? 1),
      nginx_1_vs_direct: (f['nginx_1'] ?? 0) / (f['direct'] ?? 1),
    };
    const latency = {
      direct_p50: direct1.p50ms,
      direct_p99: direct1.p99ms,
      edge_p50: edge1.p50ms,
      edge_p99: edge1.p99ms,
      added_p50: edge1.p50ms - direct1.p50ms,
      added_p99: edge1.p99ms - direct1.p99ms,
    };
    const met = {
      refusal_vs_bare_node: ratios.refusal_vs_bare_node >= TARGETS.refusal_vs_bare_node,
      forward_vs_bare_forward: ratios.forward_vs_bare_forward >= TARGETS.forward_vs_bare_forward,
      idle_rss_vs_bare_node_max: ratios.idle_rss_vs_bare_node <= TARGETS.idle_rss_vs_bare_node_max && servesAfter && idleAnswered === 10_000,
      added_p99_ms_max: latency.added_p99 <= TARGETS.added_p99_ms_max,
    };
    const result: SideBySide = {
      rounds,
      seconds,
      connections,
      forward_rps: forward,
      refusal_rps: refusal,
      medians: { forward: f, refusal: x, forward_cpu_us_per_request: fc, refusal_cpu_us_per_request: xc },
      latency_1conn_ms: latency,
      idle: {
        connections: idleOpened,
        answered: idleAnswered,
        rss_before_mb: rssBefore,
        rss_after_mb: rssAfter,
        rss_ratio_vs_bare_node: ratios.idle_rss_vs_bare_node,
        serves_after: servesAfter,
        bare_node: { answered: bareAnswered, rss_before_mb: bareRssBefore, rss_after_mb: bareRssAfter },
      },
      ratios,
      targets: TARGETS,
      met,
      machine: { cpus: availableParallelism(), node: process.version, loadavg_1m_start: load0, loadavg_1m_end: loadavg()[0] ?? 0, edge_workers_auto: availableParallelism() },
      at: new Date().toISOString(),
    };
    const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
    const line = (label: string, value: string, target: string, ok: boolean | null) =>
      process.stdout.write(`  ${label.padEnd(44)} ${value.padStart(18)}${ok === null ? '' : `   target ${target.padEnd(10)} ${ok ? 'met' : 'NOT met'}`}\n`);
    process.stdout.write(`\n  forwarded req/s (median of ${rounds}, ${connections} connections):\n`);
    for (const [k, v] of Object.entries(f)) line(`    ${k}`, fmt(v), '', null);
    process.stdout.write(`  429 answers/s:\n`);
    for (const [k, v] of Object.entries(x)) line(`    ${k}`, fmt(v), '', null);
    process.stdout.write('  targets (issue 24): the edge against Node itself\n');
    line('edge-1 ÷ bare node:http, 429s', ratios.refusal_vs_bare_node.toFixed(2), `≥ ${TARGETS.refusal_vs_bare_node}`, met.refusal_vs_bare_node);
    line('edge-1 ÷ bare node:http forwarder', ratios.forward_vs_bare_forward.toFixed(2), `≥ ${TARGETS.forward_vs_bare_forward}`, met.forward_vs_bare_forward);
    line(
      `idle RSS ÷ bare node:http, ${idleAnswered.toLocaleString('en-US')} conns`,
      `${rssAfter.toFixed(0)}/${bareRssAfter.toFixed(0)} MB = ${ratios.idle_rss_vs_bare_node.toFixed(2)}`,
      `≤ ${TARGETS.idle_rss_vs_bare_node_max}`,
      met.idle_rss_vs_bare_node_max,
    );
    line('added latency p50 / p99 at 1 connection (ms)', `${latency.added_p50.toFixed(2)} / ${latency.added_p99.toFixed(2)}`, `p99 ≤ ${TARGETS.added_p99_ms_max}`, met.added_p99_ms_max);
    process.stdout.write('  the same, as CPU per request of each server process (steadier on a busy machine; Redis and the upstream not included)\n');
    line('  edge-1 429: µs per request, bare ÷ edge', `${(xc['bare_node'] ?? 0).toFixed(0)} / ${(xc['edge_1'] ?? 0).toFixed(0)} = ${ratios.refusal_cpu_bare_node_vs_edge.toFixed(2)}`, '', null);
    line('  edge-1 forward: µs per request, bare ÷ edge', `${(fc['bare_forward'] ?? 0).toFixed(0)} / ${(fc['edge_1'] ?? 0).toFixed(0)} = ${ratios.forward_cpu_bare_forward_vs_edge.toFixed(2)}`, '', null);
    line('  edge-1 without Redis: forward µs per request', (fc['edge_1_memory'] ?? 0).toFixed(0), '', null);
    process.stdout.write('  context (no target): nginx, bare undici, the edge without Redis\n');
    line('  edge-1 ÷ nginx-1, forwarded', ratios.forward_vs_nginx_1.toFixed(2), '', null);
    if (!quick) line('  edge-auto ÷ nginx-auto, forwarded', ratios.forward_auto_vs_nginx_auto.toFixed(2), '', null);
    line('  edge-1 ÷ nginx-1, 429s', ratios.refusal_vs_nginx_1.toFixed(2), '', null);
    line('  bare node:http ÷ nginx-1, 429s', ratios.bare_node_vs_nginx_1_refusal.toFixed(2), '', null);
    line('  edge-1 ÷ bare undici forwarder', ratios.edge_vs_bare.toFixed(2), '', null);
    line('  edge-1 in-process counters ÷ bare forwarder', ratios.edge_memory_vs_bare_forward.toFixed(2), '', null);
    line(`  RSS before → with idle conns: edge (MB)`, `${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)}`, '', null);
    line(`  RSS before → with idle conns: bare (MB)`, `${bareRssBefore.toFixed(1)} → ${bareRssAfter.toFixed(1)}`, '', null);
    process.stdout.write(`  (load average ${load0.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)} on ${availableParallelism()} cores)\n`);
    if (opts.outFile) {
      mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
      writeFileSync(join(ROOT, opts.outFile), `${JSON.stringify(result, null, 2)}\n`);
    }
    return result;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    try {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  }
};

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runSideBySide({ outFile: 'bench-results/edge-side-by-side.json', quick: process.argv.includes('--quick') }).then(
    (r) => process.exit(r === null || Object.values(r.met).every(Boolean) ? 0 : 1),
    (err: unknown) => {
      process.stderr.write(`side-by-side bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
