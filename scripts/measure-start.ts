/**
 * `tsx scripts/measure-start.ts`: start time (spawn → first 200 from
 * /readyz or /healthz) and resident memory (the whole process tree, read from
 * /proc once ready) of the api and the edge, built (`node dist/main.js`) vs
 * `tsx src/main.ts`, median of 3 runs each. Needs `pnpm build` first and
 * DATABASE_URL (a migrated database: start-up, not migration, is measured).
 * Linux only (/proc). Figures go in docs/benchmarks.md; never a test assertion.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = path.join(root, 'node_modules/.bin/tsx');
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('set DATABASE_URL to a migrated database');

const rssKb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
};
const children = (pid: number): number[] =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
const treeRssMb = (pid: number): number => {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i] ?? 0));
  return all.reduce((sum, p) => sum + rssKb(p), 0) / 1024;
};

const once = async (cmd: string, args: string[], env: Record<string, string>, url: string) => {
  const started = performance.now();
  const child: ChildProcess = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: 'ignore' });
  try {
    for (;;) {
      const ok = await fetch(url).then((r) => r.status === 200, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, 500));
    return { ms, rss: treeRssMb(child.pid ?? 0) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const measure = async (label: string, cmd: string, args: string[], env: Record<string, string>, url: string) => {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await once(cmd, args, env, url));
  const line = `${label.padEnd(24)} start ${median(runs.map((r) => r.ms)).toFixed(0).padStart(5)} ms   RSS ${median(runs.map((r) => r.rss)).toFixed(0).padStart(4)} MiB`;
  process.stdout.write(`${line}\n`);
};

const apiEnv = { DATABASE_URL: databaseUrl, AIRLOCK_SECRET: 'm'.repeat(40), API_PORT: '18282', API_METRICS_PORT: '0', AIRLOCK_LOG_LEVEL: 'warn' };
const edgeEnv = { EDGE_PORT: '18443', EDGE_METRICS_PORT: '18464', EDGE_UPSTREAM: 'http://127.0.0.1:18282' };
await measure('api  node dist/main.js', process.execPath, ['apps/api/dist/main.js'], apiEnv, 'http://127.0.0.1:18282/readyz');
await measure('api  tsx src/main.ts', tsx, ['apps/api/src/main.ts'], apiEnv, 'http://127.0.0.1:18282/readyz');
await measure('edge node dist/main.js', process.execPath, ['apps/edge/dist/main.js'], edgeEnv, 'http://127.0.0.1:18443/healthz');
await measure('edge tsx src/main.ts', tsx, ['apps/edge/src/main.ts'], edgeEnv, 'http://127.0.0.1:18443/healthz');
