/**
 * The fleet-scale bench (issue 22): the same reads against a small and a
 * large seeded fleet (fleet-seed.ts), p99 of each, and the ratio large ÷
 * small (goal ≤ 2: the lists walk indexes, so their cost must not grow with
 * the fleet). Reported, never asserted.
 *
 * `FLEET_BENCH_SCALES=0.01,1` is the issue's comparison (1/100 and full
 * size); the default `0.001,0.1` keeps the same 100× ratio at a size a shared
 * 2-core machine seeds in minutes. The api runs in this process (startApi,
 * as the tests start it), on its own fresh database per size.
 *
 * Alone: `pnpm tsx apps/api/bench/fleet-bench.ts`; part of `pnpm bench` with FLEET_BENCH=1.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '@airlock/log';
import { ConsoleClient, createTestDatabase } from '@airlock/testing';
import { setOperatorPassword } from '../src/domain/console-sessions.ts';
import { createOperator } from '../src/domain/operators.ts';
import { loadApiConfig } from '../src/env.ts';
import { serveMetrics } from '../src/metrics.ts';
import { startApi } from '../src/server.ts';
import { fingerprintOf, fleetSize, seedFleet, siteCode } from './fleet-seed.ts';

const SAMPLES = Number(process.env.FLEET_BENCH_SAMPLES ?? 60);

interface Probe {
  name: string;
  run: () => Promise<void>;
}

const p99 = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? NaN;
};

const measure = async (probe: Probe): Promise<number> => {
  for (let i = 0; i < 3; i++) await probe.run();
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now();
    await probe.run();
    times.push(performance.now() - started);
  }
  return p99(times);
};

const PASSWORD = 'fleet bench password';

/** The seed's agent id for row n: md5('agent' || n) read as a uuid, as fleet-seed.ts makes it. */
const agentIdOf = (n: number) => {
  const h = createHash('md5').update(`agent${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** Starts the api on a fresh database, seeds it at `scale`, and measures every probe. */
const runScale = async (scale: number, log: (l: string) => void): Promise<Map<string, number>> => {
  const db = await createTestDatabase(`airlock_fleet_bench_${String(scale).replace('.', '_')}`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-fleet-bench-'));
  const api = await startApi(
    loadApiConfig({ DATABASE_URL: db.url, AIRLOCK_SECRET: 'fleet-bench-'.padEnd(40, 'x'), API_PORT: '0', AIRLOCK_DATA_DIR: dataDir, AIRLOCK_EXPIRY_SWEEP_SECONDS: '0' }),
    { logger: silentLogger },
  );
  const metricsServer = api.deps.metrics ? await serveMetrics(api.deps.metrics, '127.0.0.1', 0) : null;
  try {
    const size = fleetSize(scale);
    log(`scale ${scale}: ${size.agents} agents, ${size.enrollments} enrollments, ${size.audit} audit rows`);
    await seedFleet(db.url, size, log);
    const admin = await createOperator(api.deps.db, api.deps.clock, { name: 'bench-admin', role: 'admin' }, 'bench', null);
    await setOperatorPassword(api.deps.db, api.deps.clock, 'bench-admin', PASSWORD, 'bench', null);
    const console_ = new ConsoleClient(api.url);
    await console_.signIn('bench-admin', PASSWORD);
    const get = async (url: string) => {
      const res = await fetch(`${api.url}${url}`, { headers: { authorization: `Bearer ${admin.token}` } });
      if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { next_cursor: string | null };
    };
    const cursorOfPage = async (url: string, page: number) => {
      let cursor: string | null = null;
      for (let i = 1; i < page; i++) {
        cursor = (await get(`${url}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).next_cursor;
        if (!cursor) return null;
      }
      return cursor;
    };
    const agentFilters: Record<string, string> = {
      none: '',
      status: 'status=active',
      site: `site_code=${siteCode(3)}`,
      tenant: 'tenant_code=fleet-a',
      label: 'label=company:company-7',
      'two labels': 'label=company:company-7&label=device_type:router',
      'hostname prefix': 'q=host-12',
      fingerprint: `q=${encodeURIComponent(fingerprintOf(Math.max(1, Math.floor(size.agents / 2))))}`,
    };
    const probes: Probe[] = [];
    for (const [name, filter] of Object.entries(agentFilters)) {
      const url = `/api/v1/admin/agents?limit=100&${filter}`;
      probes.push({ name: `agents page 1, filter ${name}`, run: async () => void (await get(url)) });
      const cursor = await cursorOfPage(url, 20);
      if (cursor) probes.push({ name: `agents page 20, filter ${name}`, run: async () => void (await get(`${url}&cursor=${encodeURIComponent(cursor)}`)) });
    }
    probes.push({ name: 'pending list', run: async () => void (await get('/api/v1/admin/enrollments?status=awaiting_approval')) });
    for (const [name, q] of Object.entries({
      unfiltered: '',
      'by site': `site_code=${siteCode(3)}`,
      'by type': 'event_type=verify.ok',
      'by agent': `agent_id=${agentIdOf(2)}`,
      'by site and type (no match)': `site_code=${siteCode(3)}&event_type=enroll.created`,
    })) {
      probes.push({ name: `audit ${name}`, run: async () => void (await get(`/api/v1/admin/audit?limit=50&${q}`)) });
    }
    probes.push({
      name: 'tunnel key lookup',
      run: async () => {
        const res = await fetch(`${api.url}/api/v1/internal/tunnel/authorized-keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ fingerprint: fingerprintOf(Math.max(1, Math.floor(size.agents / 3))) }),
        });
        await res.arrayBuffer();
      },
    });
    for (const page of ['pending', 'agents', 'audit']) {
      probes.push({
        name: `console ${page} page`,
        run: async () => {
          const res = await console_.get(`/console/${page}`);
          if (res.status !== 200) throw new Error(`console ${page}: ${res.status}`);
        },
      });
    }
    if (metricsServer) {
      probes.push({ name: '/metrics scrape', run: async () => void (await (await fetch(`http://127.0.0.1:${metricsServer.port}/metrics`)).text()) });
    }
    const out = new Map<string, number>();
    for (const probe of probes) out.set(probe.name, await measure(probe));
    return out;
  } finally {
    metricsServer?.close();
    await api.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

export const runFleetBench = async (log: (l: string) => void = (l) => console.log(l)) => {
  const scales = (process.env.FLEET_BENCH_SCALES ?? '0.001,0.1').split(',').map(Number);
  const [small = 0.001, large = 0.1] = scales;
  const a = await runScale(small, log);
  const b = await runScale(large, log);
  // A read one size cannot make (a 20th page of a list with fewer pages) shows as '-'.
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((name) => ({ name, small: a.get(name) ?? NaN, large: b.get(name) ?? NaN }));
  const ms = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));
  log(`\nfleet bench: p99 in ms at scale ${small} and ${large} (${SAMPLES} samples each); goal large ÷ small ≤ 2`);
  log('| read | p99 small | p99 large | large ÷ small |');
  log('|---|---:|---:|---:|');
  for (const r of rows) log(`| ${r.name} | ${ms(r.small)} | ${ms(r.large)} | ${Number.isNaN(r.large / r.small) ? '-' : (r.large / r.small).toFixed(2)} |`);
  return rows;
};

if (import.meta.url === `file://${process.argv[1]}`) await runFleetBench();
