/**
 * The api and the edge as real child processes, started as `node --import
 * tsx` (not the tsx wrapper, which would outlive a SIGKILL of its parent and
 * keep the port), so a test can SIGKILL, SIGTERM or SIGHUP exactly the
 * process that serves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, REPO_ROOT, sleep } from '@airlock/testing';

export interface Proc {
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive: () => boolean;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const startNode = (script: string, env: Record<string, string>, args: string[] = []): Proc =>
  startScript(script, env, args, ['--import', 'tsx']);

/** Any Node script (e.g. the bundled airlock-agent.mjs); `nodeArgs` before it. */
export const startScript = (script: string, env: Record<string, string>, args: string[] = [], nodeArgs: string[] = []): Proc => {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: REPO_ROOT,
    // Only what the process needs: no REDIS_URL or DATABASE_URL leaking in from the runner.
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString('utf8');
    // Bounded: a flood's access log must not fill the test runner's memory.
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    alive,
    stop: async (signal = 'SIGTERM', graceMs = 15_000) => {
      if (alive()) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
};

/** Polls until `url` answers `status`, or fails with the process output. */
const waitForStatus = async (url: string, status: number, proc?: Proc, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && !proc.alive()) throw new Error(`process exited early:\n${proc.output().slice(-4000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === status) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${status} from ${url}:\n${proc?.output().slice(-4000) ?? ''}`);
};

export interface ApiProcess {
  url: string;
  port: number;
  dataDir: string;
  proc: () => Proc;
  /** Starts (again) on the same port, data dir and secret; resolves when /readyz is 200. */
  start: () => Promise<void>;
  kill: () => Promise<void>;
  cleanup: () => Promise<void>;
}

/** The api (apps/api/src/main.ts) on a fixed port, restartable after a SIGKILL. */
export const apiProcess = async (databaseUrl: string, env: Record<string, string> = {}): Promise<ApiProcess> => {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-chaos-api-'));
  const secret = randomBytes(24).toString('hex');
  let current: Proc | null = null;
  const url = `http://127.0.0.1:${port}`;
  const start = async () => {
    current = startNode('apps/api/src/main.ts', {
      DATABASE_URL: databaseUrl,
      AIRLOCK_SECRET: secret,
      AIRLOCK_DATA_DIR: dataDir,
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      // No fixed-port metrics listener: restarts and other api processes must not collide on it.
      API_METRICS_PORT: '0',
      AIRLOCK_LOG_LEVEL: 'warn',
      ...env,
    });
    await waitForStatus(`${url}/readyz`, 200, current);
  };
  return {
    url,
    port,
    dataDir,
    proc: () => {
      if (!current) throw new Error('api not started');
      return current;
    },
    start,
    kill: async () => {
      await current?.stop('SIGKILL');
    },
    cleanup: async () => {
      await current?.stop('SIGTERM', 5_000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

export interface EdgeProcess {
  port: number;
  metricsPort: number;
  proc: Proc;
}

/** The edge (apps/edge/src/main.ts) on free loopback ports; resolves once it listens. */
export const edgeProcess = async (env: Record<string, string>): Promise<EdgeProcess> => {
  const port = await freePort();
  const metricsPort = await freePort();
  const proc = startNode('apps/edge/src/main.ts', {
    EDGE_HOST: '127.0.0.1',
    EDGE_PORT: String(port),
    EDGE_METRICS_PORT: String(metricsPort),
    // The access log of a flood is megabytes of lines nobody reads here.
    EDGE_ACCESS_LOG: 'false',
    ...env,
  });
  await waitForStatus(`http://127.0.0.1:${metricsPort}/metrics`, 200, proc);
  return { port, metricsPort, proc };
};

/** Resident set size of a process, from /proc (Linux), in MiB. */
export const rssMiB = async (pid: number): Promise<number> => {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
};
