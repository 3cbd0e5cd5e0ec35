/**
 * `pnpm bench`: performance targets, measured side by side in one run on this
 * machine, printed as ratios (absolute numbers vary with the machine; ratios
 * measured together hold up). Results go to bench-results/*.json.
 *
 * 1. Crypto decisions (packages/crypto, apps/api):
 *    - Ed25519 verification: node:crypto (what the api uses) ÷ tweetnacl.
 *    - Secret lookup digest: SHA-256 (what the api stores for 256-bit secrets)
 *      ÷ Argon2id at OWASP's 19 MiB / t=2 (what it would cost instead).
 * 2. The edge (apps/edge/bench/edge-bench.ts): forwarded req/s through the edge
 *    ÷ straight to the api (target ≥ 0.45), 429 answers/s ÷ forwarded (≥ 1.5),
 *    and the latency the edge adds.
 *    Then side by side with nginx on a trivial upstream (apps/edge/bench/side-by-side.ts).
 * 3. The api (apps/api/bench/api-bench.ts): /healthz ÷ a bare Hono app (≥ 0.7),
 *    complete enrollments/s ÷ bare Hono req/s (≥ 0.008), api CPU per
 *    enrollment (≤ 5 ms).
 *    Issue 24 moved the edge's targets to Node itself, in the same run: 429s ÷
 *    a bare node:http server sending the same bytes (≥ 0.85), forwards ÷ a
 *    bare keep-alive node:http forwarder (≥ 0.75), idle RSS with 10k
 *    connections ÷ bare node:http's (≤ 1.10), added p99 at 1 connection (≤ 2 ms);
 *    nginx stays as context.
 * 3b. Webhooks (apps/api/bench/webhooks-bench.ts, issue 20): enrollments/s with
 *    one subscribed webhook ÷ without (≥ 0.9), delivery latency p50/p99 at
 *    100 events/s.
 * 4. The tunnel's keys helper (apps/tunnel/bench/keys-helper-bench.ts): CPU,
 *    max RSS and wall per call of the Perl client next to the Node helper it
 *    replaced (issue 18; target: Perl ≤ 20 ms CPU per call). Needs root and
 *    the airlock-keys account, as the tunnel does.
 * 5. The tunnel's key lookup at the api (apps/api/bench/tunnel-lookup-bench.ts):
 *    p50/p99 of the authorized-keys route at 10k and 1M agents (issue 21).
 *
 * `pnpm bench --quick` (or BENCH_QUICK=1): a run of a few minutes: short crypto,
 * no autocannon edge bench, the side-by-side in one 3 s round without the
 * cluster parties, the api bench in one round, no webhooks bench, no keys helper, no tunnel key lookup.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { encodeSshEd25519PublicKey, generateAgentKeyPair, parseSshEd25519PublicKey, secretDigest, mintSecret, signRaw } from '@airlock/crypto';
import nacl from 'tweetnacl';
import { runApiBench, printApiBench } from '../apps/api/bench/api-bench.ts';
import { printWebhooksBench, runWebhooksBench } from '../apps/api/bench/webhooks-bench.ts';
import { runFleetBench } from '../apps/api/bench/fleet-bench.ts';
import { runEdgeBench } from '../apps/edge/bench/edge-bench.ts';
import { runSideBySide } from '../apps/edge/bench/side-by-side.ts';
import { printKeysHelperBench, runKeysHelperBench } from '../apps/tunnel/bench/keys-helper-bench.ts';
import { printTunnelLookupBench, runTunnelLookupBench } from '../apps/api/bench/tunnel-lookup-bench.ts';
import { createTestDatabase, freePort, spawnManaged, type TestDatabase, waitForHttp } from '@airlock/testing';

/** Runs fn repeatedly for about `ms` milliseconds; returns operations per second. */
const opsPerSecond = async (fn: () => unknown | Promise<unknown>, ms = 1500): Promise<number> => {
  for (let i = 0; i < 5; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await fn();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
};

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

const cryptoBench = async (ms: number) => {
  const kp = generateAgentKeyPair();
  const message = Buffer.from('airlock-enroll-v1\n00000000-0000-4000-8000-000000000000\nAAAA');
  const sig = Buffer.from(signRaw(kp.secretKey, message), 'base64');
  const parsed = parseSshEd25519PublicKey(encodeSshEd25519PublicKey(kp.publicKey));
  const keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(parsed.key).toString('base64url') }, format: 'jwk' });

  const node = await opsPerSecond(() => nodeVerify(null, message, keyObject, sig), ms);
  const tweet = await opsPerSecond(() => nacl.sign.detached.verify(message, sig, kp.publicKey), ms);

  const secret = mintSecret('cak');
  const sha = await opsPerSecond(() => secretDigest(secret), ms);
  const argonEncoded = await argonHash(secret, { memoryCost: 19456, timeCost: 2, parallelism: 1 });
  const argon = await opsPerSecond(() => argonVerify(argonEncoded, secret), ms * 2);

  return {
    ed25519_verify_per_s: { node_crypto: node, tweetnacl: tweet, ratio: node / tweet },
    secret_digest_per_s: { sha256: sha, argon2id_19mib_t2: argon, ratio: sha / argon },
  };
};

/**
 * The real api as its own process, on a throwaway database: local Postgres
 * when it answers (as in production), else embedded PGlite.
 */
const startRealApi = async (): Promise<{ url: string; stop(): Promise<void> }> => {
  let db: TestDatabase | null = null;
  try {
    db = await createTestDatabase('airlock_bench');
  } catch {
    process.stdout.write('  (no local Postgres: the api runs on embedded PGlite)\n');
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-'));
  const port = await freePort();
  const proc = spawnManaged(['apps/api/src/main.ts'], {
    ...(db ? { DATABASE_URL: db.url } : {}),
    AIRLOCK_DATA_DIR: dataDir,
    API_PORT: String(port),
    AIRLOCK_LOG_LEVEL: 'warn',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, proc, { timeoutMs: 120_000 });
  return {
    url,
    stop: async () => {
      await proc.stop();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

const QUICK = process.argv.includes('--quick') || process.env['BENCH_QUICK'] === '1';

const main = async () => {
  mkdirSync('bench-results', { recursive: true });
  process.stdout.write(`crypto (one core, side by side)${QUICK ? ', quick mode' : ''}...\n`);
  const c = await cryptoBench(QUICK ? 300 : 1500);
  const rows: Array<[string, string, string, string]> = [
    ['Ed25519 verify/s', `node:crypto ${fmt(c.ed25519_verify_per_s.node_crypto)}`, `tweetnacl ${fmt(c.ed25519_verify_per_s.tweetnacl)}`, `${fmt(c.ed25519_verify_per_s.ratio)}x`],
    ['secret digest/s', `SHA-256 ${fmt(c.secret_digest_per_s.sha256)}`, `Argon2id ${fmt(c.secret_digest_per_s.argon2id_19mib_t2)}`, `${fmt(c.secret_digest_per_s.ratio)}x`],
  ];
  for (const r of rows) process.stdout.write(`  ${r[0].padEnd(18)} ${r[1].padEnd(24)} ${r[2].padEnd(24)} ratio ${r[3]}\n`);
  const at = new Date().toISOString();
  writeFileSync('bench-results/crypto.json', JSON.stringify({ ...c, machine: { cpus: cpus().length, node: process.version }, at }, null, 2));

  let edgePass = true;
  if (!QUICK) {
    process.stdout.write('\nedge vs the real api (separate processes, autocannon as load generator)...\n');
    const api = await startRealApi();
    try {
      edgePass = (await runEdgeBench({ outFile: 'bench-results/edge.json', apiUrl: api.url })).pass;
    } finally {
      await api.stop();
    }
    process.stdout.write(`\nedge targets ${edgePass ? 'met' : 'NOT met'}; results in bench-results/\n`);
  }

  // Issue #12: the edge next to nginx on a trivial upstream, wrk as load generator.
  process.stdout.write('\nedge side by side with nginx (trivial upstream, wrk, interleaved rounds)...\n');
  const sbs = await runSideBySide({ outFile: 'bench-results/edge-side-by-side.json', quick: QUICK });
  const sbsPass = sbs === null || Object.values(sbs.met).every(Boolean);
  process.stdout.write(`side-by-side targets ${sbs === null ? 'skipped' : sbsPass ? 'met' : 'NOT met'}\n`);

  // The api's own cost next to a bare Hono app: /healthz, complete enrollments, CPU per enrollment.
  process.stdout.write('\napi next to a bare Hono app (autocannon; zero-touch enrollments from this process)...\n');
  const apiBench = await runApiBench({ outFile: 'bench-results/api.json', ...(QUICK ? { rounds: 1, seconds: 3, enrollSeconds: 5 } : {}) });
  printApiBench(apiBench);

  // Issue 20: what one subscribed webhook costs an enrollment, and how fast events arrive.
  process.stdout.write('\nwebhooks (one subscribed webhook vs none, interleaved; latency at 100 events/s)...\n');
  let hooks = { pass: true };
  if (QUICK) process.stdout.write('  skipped in quick mode\n');
  else {
    const run = await runWebhooksBench();
    writeFileSync('bench-results/webhooks.json', JSON.stringify(run, null, 2));
    printWebhooksBench(run);
    hooks = run;
  }

  // Issue 18, finding 8: what one AuthorizedKeysCommand call costs, now and before.
  process.stdout.write('\ntunnel keys helper per call (as sshd runs it; Perl now, the previous Node helper side by side)...\n');
  let keysPass = true;
  if (QUICK) {
    process.stdout.write('  skipped in quick mode\n');
  } else if (process.getuid?.() !== 0) {
    process.stdout.write('  skipped: needs root (runuser, a root-owned helper), as the tunnel endpoint does\n');
  } else {
    const keys = await runKeysHelperBench({ outFile: 'bench-results/tunnel-keys-helper.json' });
    printKeysHelperBench(keys);
    keysPass = keys.perl.cpu_ms <= 20;
    process.stdout.write(`keys helper target (Perl ≤ 20 ms CPU per call) ${keysPass ? 'met' : 'NOT met'}\n`);
  }
  // Issue 21: the lookup sshd waits on for every login, at 10k and 1M agents (reported, no target).
  process.stdout.write('\ntunnel key lookup at the api (authorized-keys route, one at a time as sshd asks)...\n');
  if (QUICK) process.stdout.write('  skipped in quick mode\n');
  else {
    const lookups = await runTunnelLookupBench();
    printTunnelLookupBench(lookups);
    writeFileSync('bench-results/tunnel-key-lookup.json', JSON.stringify({ results: lookups, at: new Date().toISOString() }, null, 2));
  }
  // Issue 22: list reads at a small and a large seeded fleet, p99 large ÷ small (reported, never a pass/fail).
  // Seeding takes minutes (hours at full size): FLEET_BENCH=1 runs it; FLEET_BENCH_SCALES picks the sizes.
  if (process.env.FLEET_BENCH === '1') {
    process.stdout.write('\nfleet lists at two sizes (apps/api/bench/fleet-bench.ts)...\n');
    const rows = await runFleetBench((l) => process.stdout.write(`${l}\n`));
    writeFileSync('bench-results/fleet.json', JSON.stringify(rows, null, 2));
  } else {
    process.stdout.write('\nfleet lists: skipped (FLEET_BENCH=1 to seed and run; see docs/benchmarks.md)\n');
  }
  process.exitCode = edgePass && sbsPass && apiBench.pass && hooks.pass && keysPass ? 0 : 1;
};

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
