import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, type EdgeProcess, enrollWithKey, type RecordingUpstream, REDIS_URL, REPO_ROOT, send, spawnEdge, startRecordingUpstream, stopProcess, uniquePrefix, waitFor } from '@airlock/testing';

let upstream: RecordingUpstream;
const processes: EdgeProcess[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  upstream = await startRecordingUpstream();
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => stopProcess(p)));
  upstream.requests.length = 0;
});

afterAll(async () => {
  await upstream.close();
  for (const p of prefixes) await deletePrefix(REDIS_URL, p);
});

const spawnTracked = async (env: Record<string, string>) => {
  const p = await spawnEdge({ EDGE_UPSTREAM: upstream.url, ...env });
  processes.push(p);
  return p;
};

describe('scale-out: two edge processes on one Redis', () => {
  it('enforce one shared lockout and one shared budget', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const env = {
      REDIS_URL,
      EDGE_REDIS_PREFIX: prefix,
      EDGE_LOCKOUT_FAILURES: '4',
      EDGE_LIMIT_STATUS_PER_MIN: '4',
    };
    const [a, b] = await Promise.all([spawnTracked(env), spawnTracked(env)]);
    if (!a || !b) throw new Error('edges did not start');

    upstream.respond(401);
    expect((await enrollWithKey(a.port, 'ACME', 'm1')).status).toBe(401);
    expect((await enrollWithKey(b.port, 'ACME', 'm2')).status).toBe(401);
    expect((await enrollWithKey(a.port, 'ACME', 'm3')).status).toBe(401);
    expect((await enrollWithKey(b.port, 'ACME', 'm4')).status).toBe(401);
    // Four failures split across two edges make one lockout, seen by both.
    expect((await enrollWithKey(a.port, 'ACME', 'm5')).status).toBe(429);
    expect((await enrollWithKey(b.port, 'ACME', 'm6')).status).toBe(429);
    expect(upstream.requests).toHaveLength(4);

    upstream.respond(202);
    const poll = (port: number) => send(port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
    const statuses = [(await poll(a.port)).status, (await poll(b.port)).status, (await poll(a.port)).status, (await poll(b.port)).status];
    expect(statuses).toEqual([202, 202, 202, 202]);
    expect((await poll(a.port)).status).toBe(429);
    expect((await poll(b.port)).status).toBe(429);
  }, 60_000);
});

describe('TLS', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edge-tls-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const makeCert = (name: string) => {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`,
    ], { stdio: 'ignore' });
    return { cert, key, fingerprint: new X509Certificate(readFileSync(cert)).fingerprint256 };
  };

  const connectTls = (port: number) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });

  const healthOver = (socket: TLSSocket) =>
    new Promise<string>((resolve) => {
      let got = '';
      const onData = (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('{"status":"ok"}')) {
          socket.off('data', onData);
          resolve(got);
        }
      };
      socket.on('data', onData);
      socket.write('GET /healthz HTTP/1.1\r\nHost: edge.test\r\n\r\n');
    });

  it('serves TLS, reloads the certificate on SIGHUP for new connections, and keeps existing ones', async () => {
    const first = makeCert('first');
    const second = makeCert('second');
    const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    writeFileSync(live.cert, readFileSync(first.cert));
    writeFileSync(live.key, readFileSync(first.key));
    const edge = await spawnTracked({ EDGE_TLS_CERT: live.cert, EDGE_TLS_KEY: live.key, EDGE_KEEPALIVE_TIMEOUT_MS: '30000' });

    const old = await connectTls(edge.port);
    expect(old.getPeerX509Certificate()?.fingerprint256).toBe(first.fingerprint);
    expect(await healthOver(old)).toMatch(/^HTTP\/1\.1 200 /);

    writeFileSync(live.cert, readFileSync(second.cert));
    writeFileSync(live.key, readFileSync(second.key));
    edge.child.kill('SIGHUP');
    await waitFor(() => edge.lines.some((l) => l['msg'] === 'tls certificate reloaded'), 'reload log line');

    const fresh = await connectTls(edge.port);
    expect(fresh.getPeerX509Certificate()?.fingerprint256).toBe(second.fingerprint);
    expect(await healthOver(fresh)).toMatch(/^HTTP\/1\.1 200 /);
    // The keep-alive connection opened before the reload still works.
    expect(old.destroyed).toBe(false);
    expect(await healthOver(old)).toMatch(/^HTTP\/1\.1 200 /);
    old.destroy();
    fresh.destroy();
  }, 60_000);

  it('keeps the old certificate when the new pair is broken', async () => {
    const first = makeCert('keep');
    const live = { cert: join(dir, 'keep-live.crt'), key: join(dir, 'keep-live.key') };
    writeFileSync(live.cert, readFileSync(first.cert));
    writeFileSync(live.key, readFileSync(first.key));
    const edge = await spawnTracked({ EDGE_TLS_CERT: live.cert, EDGE_TLS_KEY: live.key });
    writeFileSync(live.cert, 'not a certificate');
    edge.child.kill('SIGHUP');
    await waitFor(() => edge.lines.some((l) => l['msg'] === 'tls reload failed; keeping the previous certificate'), 'failure log');
    const s = await connectTls(edge.port);
    expect(s.getPeerX509Certificate()?.fingerprint256).toBe(first.fingerprint);
    s.destroy();
  }, 60_000);
});

describe('SIGTERM', () => {
  it('finishes the in-flight request, then exits 0', async () => {
    const edge = await spawnTracked({ EDGE_SHUTDOWN_GRACE_MS: '10000' });
    upstream.respond(202, 1_500);
    const inflight = send(edge.port, 'GET', '/api/v1/enroll/status', { headers: { authorization: 'Bearer t' } });
    await waitFor(() => upstream.requests.length === 1, 'request to reach the api');
    edge.child.kill('SIGTERM');
    const res = await inflight;
    expect(res.status).toBe(202);
    expect(await edge.exited).toBe(0);
  }, 30_000);
});

describe('configuration', () => {
  it('refuses to start and lists every problem at once', () => {
    const out = spawnSync(process.execPath, ['--import', 'tsx', 'apps/edge/src/main.ts'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        EDGE_PORT: 'abc',
        EDGE_UPSTREAM: 'ftp://x',
        EDGE_TRUSTED_PROXIES: '10.0.0.0/99',
        EDGE_LOCKOUT_FAILURES: '0',
      },
      encoding: 'utf8',
    });
    // Exit 2, a configuration problem, as every app exits on one since issue 19 (it was 1 here, 2 at the api).
    expect(out.status).toBe(2);
    for (const name of ['EDGE_PORT', 'EDGE_UPSTREAM', 'EDGE_TRUSTED_PROXIES', 'EDGE_LOCKOUT_FAILURES']) {
      expect(out.stderr).toContain(name);
    }
  }, 30_000);
});
