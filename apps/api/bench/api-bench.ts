/**
 * The api's own cost, measured side by side in one run (issue: "the api's
 * own cost"):
 *
 *   healthz ratio     = api GET /healthz req/s ÷ a bare Hono app's        (target ≥ 0.7)
 *   enrollment ratio  = complete zero-touch enrollments/s ÷ bare Hono req/s (target ≥ 0.008, issue 24)
 *   CPU per enrollment = api process CPU time ÷ enrollments               (target ≤ 5 ms)
 *
 * Both servers run as production code on plain node: the api as `pnpm build`
 * makes it (apps/api/dist/main.js), bare Hono bundled by the same esbuild
 * call, so neither carries tsx and the comparison is fair. Load comes from
 * autocannon (healthz) and from this process (enrollments: enroll, verify
 * with a raw Ed25519 signature, status, auto policy, 8 concurrent clients).
 * The load generator signs with node:crypto, not tweetnacl: on two cores a
 * pure-JS signer in this process would take CPU from the api and make the
 * bench measure itself. CPU is read from /proc/<pid>/stat, so it is the api's alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeSshEd25519PublicKey, signedMessage } from '@airlock/crypto';
import { buildAppForBench } from '../../../scripts/bench-build.ts';
import { createTestDatabase, freePort } from '@airlock/testing';
import { nodeEd25519KeyPair } from '@airlock/crypto/test-support';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export interface ApiBenchResult {
  healthz_rps: { bare_hono: number[]; api: number[] };
  bare_hono_rps: number;
  api_healthz_rps: number;
  healthz_ratio: number;
  enrollments: {
    count: number;
    seconds: number;
    per_second: number;
    api_cpu_ms: number;
    cpu_ms_per_enrollment: number;
    concurrency: number;
    /** Where the rest of the machine's CPU went, per enrollment (not targets): Postgres backends, this load generator. */
    postgres_cpu_ms_per_enrollment: number;
    load_generator_cpu_ms_per_enrollment: number;
  };
  enrollment_ratio: number;
  targets: { healthz_ratio: number; enrollment_ratio: number; cpu_ms_per_enrollment: number };
  pass: boolean;
  at: string;
}

export const start = (script: string, env: Record<string, string>): ChildProcess =>
  // AIRLOCK_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles both servers.
  spawn(process.execPath, [...(process.env['AIRLOCK_BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), script], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });

export const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
};

export const waitUp = async (url: string, child: ChildProcess) => {
  const until = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process for ${url} exited early`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > until) throw new Error(`${url} did not come up`);
    await sleep(150);
  }
};

/** utime + stime of a process, in milliseconds (clock ticks are 100 Hz on Linux). */
const cpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/**
 * CPU of every process whose command is postgres (the server's backends), by
 * pid. Informational: on a shared two-core machine it shows whether the
 * database or the api is what limits enrollments per second.
 */
const postgresCpu = (): Map<number, number> => {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      out.set(Number(entry), cpuMs(Number(entry)));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
};
const postgresCpuSince = (before: Map<number, number>): number =>
  [...postgresCpu()].reduce((sum, [pid, ms]) => sum + ms - (before.get(pid) ?? 0), 0);

const cannonRps = (url: string, connections: number, seconds: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      path.join(ROOT, 'node_modules/.bin/autocannon'),
      ['--json', '-n', '-c', String(connections), '-d', String(seconds), url],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      try {
        const r = JSON.parse(out) as { requests: { average: number }; non2xx: number; errors: number };
        if (r.non2xx > 0 || r.errors > 0) reject(new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`));
        else resolve(r.requests.average);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
export const call = (base: string, method: string, route: string, body?: unknown, bearer?: string): Promise<{ status: number; json: Record<string, unknown> }> =>
  new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${base}${route}`,
      {
        method,
        agent,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: data ? (JSON.parse(data) as Record<string, unknown>) : {} }));
      },
    );
    req.once('error', reject);
    req.end(payload);
  });

/** An agent's key pair from node:crypto: the raw 32-byte public key and a signer. */
const agentKeyPair = (): { publicKey: Uint8Array; privateKey: KeyObject } => {
  const { privateKey, raw } = nodeEd25519KeyPair();
  return { publicKey: raw, privateKey };
};

/** One complete zero-touch enrollment: enroll, verify, collect the cak_. */
export const enrollOnce = async (base: string, siteCode: string, key: string, n: number): Promise<void> => {
  const kp = agentKeyPair();
  const enroll = await call(base, 'POST', '/api/v1/enroll', {
    site_code: siteCode,
    enrollment_key: key,
    public_key: encodeSshEd25519PublicKey(kp.publicKey, `bench-${n}`),
    hostname: `bench-${n}`,
    machine_uid: `bench-machine-${process.pid}-${n}`,
  });
  if (enroll.status !== 201) throw new Error(`enroll answered ${enroll.status}: ${JSON.stringify(enroll.json)}`);
  const id = String(enroll.json['enrollment_id']);
  // The raw form verify accepts: standard base64 of the 64-byte detached signature.
  const signature = sign(null, signedMessage(id, String(enroll.json['challenge'])), kp.privateKey).toString('base64');
  const verify = await call(base, 'POST', '/api/v1/enroll/verify', { enrollment_id: id, signature });
  if (verify.status !== 200) throw new Error(`verify answered ${verify.status}`);
  const status = await call(base, 'GET', '/api/v1/enroll/status', undefined, String(verify.json['poll_token']));
  if (status.status !== 200) throw new Error(`status answered ${status.status}`);
};

export const runApiBench = async (opts: { rounds?: number; seconds?: number; enrollSeconds?: number; outFile?: string } = {}): Promise<ApiBenchResult> => {
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 4;
  const db = await createTestDatabase('airlock_bench');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-api-bench-'));
  const buildDir = mkdtempSync(path.join(tmpdir(), 'airlock-api-bench-build-'));
  const [apiPort, barePort] = [await freePort(), await freePort()];
  const built = await buildAppForBench('api', buildDir, ['bare-hono'], fileURLToPath(new URL('./', import.meta.url)));
  const api = start(built.main, {
    DATABASE_URL: db.url,
    AIRLOCK_DATA_DIR: dataDir,
    API_PORT: String(apiPort),
    AIRLOCK_LOG_LEVEL: 'warn',
    AIRLOCK_BOOTSTRAP_ADMIN: '1',
  });
  const bare = start(built['bare-hono'], { PORT: String(barePort) });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  try {
    await Promise.all([waitUp(`${apiUrl}/readyz`, api), waitUp(`${bareUrl}/healthz`, bare)]);
    const healthz = { bare_hono: [] as number[], api: [] as number[] };
    // Interleaved rounds: background load on a shared machine hits both alike.
    for (let i = 0; i < rounds; i++) {
      healthz.bare_hono.push(await cannonRps(`${bareUrl}/healthz`, 8, seconds));
      healthz.api.push(await cannonRps(`${apiUrl}/healthz`, 8, seconds));
    }

    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const siteCode = 'BENCH-1';
    await call(apiUrl, 'POST', '/api/v1/admin/sites', { site_code: siteCode, name: 'Bench', policy: 'auto' }, token);
    const rotated = await call(apiUrl, 'POST', `/api/v1/admin/sites/${siteCode}/enrollment-key`, { max_uses: 1_000_000 }, token);
    const key = String(rotated.json['key']);
    for (let i = 0; i < 20; i++) await enrollOnce(apiUrl, siteCode, key, -i - 1); // warm-up

    const pid = api.pid ?? 0;
    const concurrency = 8;
    const until = performance.now() + (opts.enrollSeconds ?? 8) * 1000;
    let count = 0;
    let next = 0;
    const cpuBefore = cpuMs(pid);
    const pgBefore = postgresCpu();
    const selfBefore = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          await enrollOnce(apiUrl, siteCode, key, next++);
          count++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const apiCpu = cpuMs(pid) - cpuBefore;
    const pgCpu = postgresCpuSince(pgBefore);
    const self = process.cpuUsage(selfBefore);
    const selfCpu = (self.user + self.system) / 1000;

    const bareRps = median(healthz.bare_hono);
    const apiRps = median(healthz.api);
    const perSecond = count / elapsed;
    const targets = { healthz_ratio: 0.7, enrollment_ratio: 0.008, cpu_ms_per_enrollment: 5 };
    const result: ApiBenchResult = {
      healthz_rps: healthz,
      bare_hono_rps: bareRps,
      api_healthz_rps: apiRps,
      healthz_ratio: apiRps / bareRps,
      enrollments: {
        count,
        seconds: elapsed,
        per_second: perSecond,
        api_cpu_ms: apiCpu,
        cpu_ms_per_enrollment: apiCpu / count,
        concurrency,
        postgres_cpu_ms_per_enrollment: pgCpu / count,
        load_generator_cpu_ms_per_enrollment: selfCpu / count,
      },
      enrollment_ratio: perSecond / bareRps,
      targets,
      pass: false,
      at: new Date().toISOString(),
    };
    result.pass =
      result.healthz_ratio >= targets.healthz_ratio &&
      result.enrollment_ratio >= targets.enrollment_ratio &&
      result.enrollments.cpu_ms_per_enrollment <= targets.cpu_ms_per_enrollment;
    if (opts.outFile) {
      mkdirSync(path.dirname(path.join(ROOT, opts.outFile)), { recursive: true });
      writeFileSync(path.join(ROOT, opts.outFile), JSON.stringify(result, null, 2));
    }
    return result;
  } finally {
    agent.destroy();
    await Promise.all([stop(api), stop(bare)]);
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(buildDir, { recursive: true, force: true });
  }
};

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n < 1 ? 4 : 2));

export const printApiBench = (r: ApiBenchResult, write: (s: string) => void = (s) => process.stdout.write(s)) => {
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  write(`  api /healthz ÷ bare Hono       ${fmt(r.api_healthz_rps)} / ${fmt(r.bare_hono_rps)} = ${r.healthz_ratio.toFixed(2)}  (target ≥ ${r.targets.healthz_ratio}: ${mark(r.healthz_ratio >= r.targets.healthz_ratio)})\n`);
  write(`  enrollments/s ÷ bare Hono      ${fmt(r.enrollments.per_second)} / ${fmt(r.bare_hono_rps)} = ${r.enrollment_ratio.toFixed(4)}  (target ≥ ${r.targets.enrollment_ratio}: ${mark(r.enrollment_ratio >= r.targets.enrollment_ratio)})\n`);
  write(`  api CPU per enrollment         ${r.enrollments.cpu_ms_per_enrollment.toFixed(1)} ms  (target ≤ ${r.targets.cpu_ms_per_enrollment} ms: ${mark(r.enrollments.cpu_ms_per_enrollment <= r.targets.cpu_ms_per_enrollment)})\n`);
  write(`  (not targets) Postgres CPU per enrollment ${r.enrollments.postgres_cpu_ms_per_enrollment.toFixed(1)} ms, load generator ${r.enrollments.load_generator_cpu_ms_per_enrollment.toFixed(1)} ms\n`);
};

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const quick = process.argv.includes('--quick');
  runApiBench({ outFile: 'bench-results/api.json', ...(quick ? { rounds: 1, seconds: 3, enrollSeconds: 5 } : {}) })
    .then((r) => printApiBench(r))
    .catch((err: unknown) => {
      process.stderr.write(`api bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
