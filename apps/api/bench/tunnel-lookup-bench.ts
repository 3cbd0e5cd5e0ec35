/**
 * Issue 21: the key lookup sshd waits on for every login
 * (`POST /api/v1/internal/tunnel/authorized-keys`, one indexed query), p50 and
 * p99 at 10k and at 1M agents. The agents are seeded set-based (one INSERT …
 * SELECT over generate_series), then the route is asked for random existing
 * keys, one request at a time, as sshd asks. Reported, not asserted.
 */
import { sql } from 'drizzle-orm';
import { startTestApi } from '../src/testing/api.ts';
import { createOperator } from '../src/domain/operators.ts';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export interface LookupResult {
  agents: number;
  seed_seconds: number;
  requests: number;
  p50_ms: number;
  p99_ms: number;
}

const measure = async (agents: number, requests: number): Promise<LookupResult> => {
  const t = await startTestApi({ env: { AIRLOCK_SSH_ENDPOINT: 'oma.example.com:443', AIRLOCK_SSH_PERMIT_OPEN: '127.0.0.1:10809', AIRLOCK_SSH_REMOTE_TARGET: '127.0.0.1:8081' } });
  try {
    const db = t.api.deps.db;
    const seeded = performance.now();
    await db.execute(sql`insert into sites (code, name, policy, created_by) values ('BENCH', 'bench', 'manual', 'bench')`);
    // One statement: fingerprints and key blobs derived from the row number, shaped as sshd passes them.
    await db.execute(sql`
      insert into agents (site_code, enrollment_id, public_key, fingerprint, hostname, status, created_by, remote_port)
      select 'BENCH', gen_random_uuid(),
             'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI' || substr(encode(sha256(('k' || i)::text::bytea), 'base64'), 1, 43),
             'SHA256:' || substr(encode(sha256(i::text::bytea), 'base64'), 1, 43),
             'vma-' || i, 'active', 'bench', case when i <= 40000 then 20000 + i else null end
      from generate_series(1, ${agents}) i`);
    await db.execute(sql`analyze agents`);
    const seedSeconds = (performance.now() - seeded) / 1000;
    const { token } = await createOperator(db, t.clock, { name: 'bench-tunnel', role: 'tunnel' }, 'bench', null);
    // Random existing keys, picked in one scan before timing starts.
    const rows = await db.execute<{ fingerprint: string; public_key: string }>(sql`select fingerprint, public_key from agents order by random() limit ${requests}`);
    const samples: number[] = [];
    for (const row of rows) {
      const started = performance.now();
      const r = await fetch(`${t.api.url}/api/v1/internal/tunnel/authorized-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ fingerprint: row.fingerprint, key_type: 'ssh-ed25519', key: row.public_key.split(' ')[1] }),
      });
      await r.arrayBuffer();
      samples.push(performance.now() - started);
      if (r.status !== 200) throw new Error(`lookup answered ${r.status}`);
    }
    samples.sort((a, b) => a - b);
    return { agents, seed_seconds: seedSeconds, requests: samples.length, p50_ms: percentile(samples, 50), p99_ms: percentile(samples, 99) };
  } finally {
    await t.close();
  }
};

export const runTunnelLookupBench = async (sizes = [10_000, 1_000_000], requests = 500): Promise<LookupResult[]> => {
  const out: LookupResult[] = [];
  for (const n of sizes) out.push(await measure(n, requests));
  return out;
};

export const printTunnelLookupBench = (results: LookupResult[]): void => {
  for (const r of results) {
    process.stdout.write(
      `  key lookup at ${r.agents.toLocaleString('en-US')} agents: p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms (${r.requests} lookups; seeded in ${r.seed_seconds.toFixed(1)} s)\n`,
    );
  }
};
