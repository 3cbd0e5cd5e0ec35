/**
 * Statements and round trips to Postgres per enrollment route, counted on
 * the wire: the api (in this process, as tests run it) talks to a real
 * Postgres through a small TCP relay that reads the frontend/backend protocol.
 *
 *   statements  = Query + Execute messages the api sends (BEGIN and COMMIT included)
 *   round trips = times a connection turns from sending to receiving: the api
 *                 waited for Postgres (a Sync or a Flush, ReadyForQuery or not)
 *
 * Counted on the wire rather than by instrumenting the code, so what postgres.js
 * does underneath (an unprepared statement with parameters is sent in two
 * round trips: describe, then execute) is counted as well.
 *
 *   pnpm tsx apps/api/bench/count-statements.ts
 *
 * apps/api/test/round-trips.test.ts holds the counts (statements and round
 * trips are not timings: they do not depend on the machine).
 *
 * Steady state: a few enrollments warm up first (each connection prepares a
 * statement the first time it runs it), then every route is averaged over
 * ENROLLMENTS complete zero-touch enrollments (site key, auto policy).
 */
import { sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeSshEd25519PublicKey, signedMessage } from '@airlock/crypto';
import { createTestDatabase } from '@airlock/testing';
import { createOperator } from '../src/domain/operators.ts';
import { loadApiConfig } from '../src/env.ts';
import { silentLogger } from '@airlock/log';
import { startApi } from '../src/server.ts';
import { nodeEd25519KeyPair } from '@airlock/crypto/test-support';

const ENROLLMENTS = 20;
const WARM_UP = 5;

export interface WireCounts {
  statements: number;
  roundTrips: number;
}

/** Reads typed protocol messages (1-byte type, 4-byte length) off a byte stream. */
const messageReader = (onMessage: (type: string) => void, untypedFirst: boolean) => {
  let buf = Buffer.alloc(0);
  let expectUntyped = untypedFirst;
  return (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (expectUntyped) {
        // The startup message (or an SSLRequest) has no type byte.
        if (buf.length < 4) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        buf = buf.subarray(len);
        expectUntyped = false;
        continue;
      }
      if (buf.length < 5) return;
      const len = buf.readInt32BE(1);
      if (buf.length < len + 1) return;
      onMessage(String.fromCharCode(buf[0] ?? 0));
      buf = buf.subarray(len + 1);
    }
  };
};

/** A relay to Postgres that counts what passes; `take()` returns the counts since the last take. */
const countingRelay = async (target: { host: string; port: number }) => {
  let counts: WireCounts = { statements: 0, roundTrips: 0 };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const fromClient = messageReader((t) => {
      if (t === 'Q' || t === 'E') counts.statements++;
    }, true);
    // A round trip ends where the server answers what the api sent; the api
    // never sends again on this connection before reading that answer.
    let sentSinceAnswer = false;
    client.on('data', (d: Buffer) => {
      fromClient(d);
      sentSinceAnswer = true;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (sentSinceAnswer) counts.roundTrips++;
      sentSinceAnswer = false;
      client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    take: (): WireCounts => {
      const c = counts;
      counts = { statements: 0, roundTrips: 0 };
      return c;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

export type RouteCounts = Record<'enroll' | 'verify' | 'status', WireCounts>;

export const countStatements = async (enrollments = ENROLLMENTS): Promise<RouteCounts> => {
  const db = await createTestDatabase('airlock_count');
  const dbUrl = new URL(db.url);
  const relay = await countingRelay({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
  const relayed = new URL(db.url);
  relayed.hostname = '127.0.0.1';
  relayed.port = String(relay.port);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airlock-count-'));
  const config = loadApiConfig({
    DATABASE_URL: relayed.toString(),
    AIRLOCK_SECRET: 'count-statements-'.padEnd(40, 'x'),
    AIRLOCK_DATA_DIR: dataDir,
    API_PORT: '0',
    AIRLOCK_LOG_LEVEL: 'warn',
    // Background work on its own clock would land in a route's counts: the
    // expiry sweeper off, the webhook worker's poll slower than the run.
    AIRLOCK_EXPIRY_SWEEP_SECONDS: '0',
    AIRLOCK_WEBHOOK_POLL_MS: '60000',
  });
  const api = await startApi(config, { logger: silentLogger });
  try {
    const { token } = await createOperator(api.deps.db, api.deps.clock, { name: 'counter', role: 'admin' }, 'count-statements', null);
    const call = async (method: string, route: string, body?: unknown, bearer?: string) => {
      const res = await fetch(`${api.url}${route}`, {
        method,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    await call('POST', '/api/v1/admin/sites', { site_code: 'COUNT-1', name: 'Count', policy: 'auto' }, token);
    const key = String((await call('POST', '/api/v1/admin/sites/COUNT-1/enrollment-key', { max_uses: 1000 }, token)).json['key']);

    const totals: RouteCounts = { enroll: { statements: 0, roundTrips: 0 }, verify: { statements: 0, roundTrips: 0 }, status: { statements: 0, roundTrips: 0 } };
    const add = (route: keyof RouteCounts, c: WireCounts) => {
      totals[route].statements += c.statements;
      totals[route].roundTrips += c.roundTrips;
    };
    for (let n = 0; n < WARM_UP + enrollments; n++) {
      const measured = n >= WARM_UP;
      const { privateKey, raw } = nodeEd25519KeyPair();
      relay.take();
      const e = await call('POST', '/api/v1/enroll', {
        site_code: 'COUNT-1',
        enrollment_key: key,
        public_key: encodeSshEd25519PublicKey(raw, `count-${n}`),
        hostname: `count-${n}`,
        machine_uid: `count-machine-${n}`,
      });
      if (e.status !== 201) throw new Error(`enroll answered ${e.status}`);
      if (measured) add('enroll', relay.take());
      const id = String(e.json['enrollment_id']);
      const signature = sign(null, signedMessage(id, String(e.json['challenge'])), privateKey).toString('base64');
      relay.take();
      const v = await call('POST', '/api/v1/enroll/verify', { enrollment_id: id, signature });
      if (v.status !== 200) throw new Error(`verify answered ${v.status}`);
      if (measured) add('verify', relay.take());
      const s = await call('GET', '/api/v1/enroll/status', undefined, String(v.json['poll_token']));
      if (s.status !== 200) throw new Error(`status answered ${s.status}`);
      if (measured) add('status', relay.take());
    }
    const avg = (c: WireCounts): WireCounts => ({ statements: c.statements / enrollments, roundTrips: c.roundTrips / enrollments });
    return { enroll: avg(totals.enroll), verify: avg(totals.verify), status: avg(totals.status) };
  } finally {
    await api.close();
    await relay.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  countStatements()
    .then((r) => {
      const row = (name: string, c: WireCounts) =>
        `  ${name.padEnd(8)} ${String(c.statements).padStart(10)} ${String(c.roundTrips).padStart(12)}\n`;
      process.stdout.write(`  route    statements  round trips   (per request, complete zero-touch enrollment, auto policy)\n`);
      for (const name of ['enroll', 'verify', 'status'] as const) process.stdout.write(row(name, r[name]));
      const sum = (k: keyof WireCounts) => r.enroll[k] + r.verify[k] + r.status[k];
      process.stdout.write(row('total', { statements: sum('statements'), roundTrips: sum('roundTrips') }));
    })
    .catch((err: unknown) => {
      process.stderr.write(`count-statements failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
