/**
 * `airlock doctor` against real parts: an api on a fresh Postgres database,
 * the system Redis, certificates made by openssl. A healthy setup passes
 * every check (exit 0); each broken part fails its own line (exit 1).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { ensureSelfSignedCert } from '@airlock/crypto';
import { freePort, REPO_ROOT, TSX } from '@airlock/testing';
import { checkCertificate, runDoctor, upstreamDetail } from '../src/doctor.ts';

const MAIN = path.join(REPO_ROOT, 'apps/cli/src/main.ts');
const openssl = promisify(execFile);

let t: TestApi;
let dir: string;
let cert: { certPath: string; keyPath: string };
beforeAll(async () => {
  t = await startTestApi();
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-doctor-'));
  cert = await ensureSelfSignedCert(dir);
  // The api's CA where doctor looks for it (AIRLOCK_DATA_DIR/ca), as on a single host.
  mkdirSync(path.join(dir, 'ca'));
  writeFileSync(path.join(dir, 'ca', 'ca.crt'), t.api.deps.ca.signer.certificatePem);
}, 60_000);
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const doctor = (env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(TSX, [MAIN, 'doctor'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });

const healthyEnv = () => ({
  DATABASE_URL: t.db?.url ?? '',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AIRLOCK_API_URL: t.api.url,
  AIRLOCK_DATA_DIR: dir,
  EDGE_TLS_CERT: cert.certPath,
  EDGE_TLS_KEY: cert.keyPath,
  EDGE_UPSTREAM: t.api.url,
});

describe('airlock doctor', () => {
  it('passes every check on a healthy setup, one line each, exit 0', async () => {
    const r = await doctor(healthyEnv());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const byCheck = lines.map((l) => l.split(/\s+/).slice(0, 2));
    expect(byCheck).toEqual([
      ['ok', 'config'],
      ['ok', 'config'],
      ['ok', 'api'],
      ['ok', 'database'],
      ['ok', 'migrations'],
      ['ok', 'clock'],
      ['ok', 'redis'],
      ['ok', 'tls'],
      // Issue 18 added this line: the CA's name constraints against the configured names.
      ['ok', 'ca'],
      ['ok', 'edge'],
    ]);
    expect(r.stdout).toMatch(/^ok\s+ca\s+name constraints admit the configured names \(permitted: URI airlock; no DNS names\)$/m);
    expect(r.stdout).toMatch(/migrations\s+(\d+) of \1 applied/);
    expect(r.stdout).toContain('self-signed (agents must pin it)');
  });

  it('fails each broken part on its own line and exits 1', async () => {
    const other = await ensureSelfSignedCert(path.join(dir, 'other'));
    const closed = await freePort(); // nothing listens there: connections are refused
    const r = await doctor({
      ...healthyEnv(),
      DATABASE_URL: 'postgres://postgres:s3cret@127.0.0.1:5432/airlock_doctor_no_such_database',
      REDIS_URL: 'redis://127.0.0.1:1',
      AIRLOCK_API_URL: `http://127.0.0.1:${closed}`,
      EDGE_TLS_KEY: other.keyPath,
      EDGE_UPSTREAM: `http://127.0.0.1:${closed}`,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL\\s+api\\s+cannot reach http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\): is the api running\\?$`, 'm'));
    expect(r.stdout).toMatch(/^FAIL\s+database\s+postgres:\/\/postgres@127\.0\.0\.1:5432\/airlock_doctor_no_such_database: 3D000$/m);
    expect(r.stdout).toMatch(/^skip\s+migrations\s+database unreachable$/m);
    expect(r.stdout).toMatch(/^FAIL\s+redis\s+redis:\/\/127\.0\.0\.1:1: /m);
    expect(r.stdout).toMatch(/^FAIL\s+tls\s+.* is not the key of /m);
    expect(r.stdout).toMatch(new RegExp(`^FAIL\\s+edge upstream\\s+cannot reach http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)$`, 'm'));
    expect(r.stdout).not.toContain('s3cret');
    expect(r.stderr).toBe('error: 5 checks failed: api, database, redis, tls, edge upstream\n');
  });

  it('fails an expired certificate and a skewed clock', async () => {
    const future = new Date(Date.now() + 900 * 86_400_000);
    const results = await runDoctor(healthyEnv(), () => future);
    expect(results.find((r) => r.check === 'tls')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^certificate expired on /) });
    expect(results.find((r) => r.check === 'clock')).toMatchObject({ status: 'FAIL' });
    const soon = new Date(Date.now() + 810 * 86_400_000);
    expect(checkCertificate(cert.certPath, cert.keyPath, soon)).toMatchObject({ status: 'warn', detail: expect.stringMatching(/days left$/) });
  });

  it("says what to do about the CA's name constraints: none (an older CA), or contradicting the configured names", async () => {
    const env = healthyEnv();
    const mismatch = await runDoctor({ ...env, AIRLOCK_CERT_DNS_SUFFIX: 'agents.example.internal' }, () => new Date());
    expect(mismatch.find((r) => r.check === 'ca')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/AIRLOCK_CERT_DNS_SUFFIX=agents\.example\.internal is outside what the CA permits \(no DNS name\); rotate the CA/) });
    const p = (f: string) => path.join(dir, f);
    await openssl('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('old-ca.key'), '-out', p('old-ca.crt'), '-days', '30', '-subj', '/CN=old Airlock CA']);
    const old = await runDoctor({ ...env, AIRLOCK_CA_CERT: p('old-ca.crt'), AIRLOCK_CA_KEY: p('old-ca.key') }, () => new Date());
    expect(old.find((r) => r.check === 'ca')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/carries no name constraints.*Rotate the CA/) });
    const none = await runDoctor({ ...env, AIRLOCK_DATA_DIR: p('empty') }, () => new Date());
    expect(none.find((r) => r.check === 'ca')).toMatchObject({ status: 'skip' });
  });

  it('explains a 421 from the edge upstream: the api does not answer to that name', () => {
    expect(upstreamDetail('http://api.internal:8082', 421)).toBe(
      "http://api.internal:8082/readyz answers 421: the api does not answer to the name api.internal; add it to the api's API_ALLOWED_HOSTS",
    );
    expect(upstreamDetail('http://127.0.0.1:8082', 503)).toBe('http://127.0.0.1:8082/readyz answers 503');
  });

  it('checks the chain order: leaf then issuer passes, reversed fails', async () => {
    const p = (f: string) => path.join(dir, f);
    await openssl('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '30', '-subj', '/CN=doctor-ca']);
    await openssl('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('leaf.key'), '-out', p('leaf.csr'), '-subj', '/CN=edge.test']);
    await openssl('openssl', ['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('leaf.crt'), '-days', '30']);
    const leaf = readFileSync(p('leaf.crt'), 'utf8');
    const ca = readFileSync(p('ca.crt'), 'utf8');
    writeFileSync(p('chain.pem'), leaf + ca);
    writeFileSync(p('reversed.pem'), ca + leaf);
    expect(checkCertificate(p('chain.pem'), p('leaf.key'), new Date())).toMatchObject({ status: 'ok', detail: expect.stringContaining('chain of 2') });
    expect(checkCertificate(p('reversed.pem'), p('leaf.key'), new Date())).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^chain broken/) });
  });
});
