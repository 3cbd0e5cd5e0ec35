/**
 * #8.8, api side: an optional TLS listener (API_TLS_CERT / API_TLS_KEY,
 * validated at startup) and an operator CLI that trusts a private CA
 * (AIRLOCK_API_CA) or pins the certificate (AIRLOCK_API_PIN), against a real
 * TLS api.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSelfSignedCert, type SelfSignedCert } from '@airlock/crypto';
import { startTestApi, type TestApi } from '@airlock/api/testing';
import { request } from '@airlock/testing';
import { runCli } from '@airlock/cli/run';
import { ConfigError, loadApiConfig } from '../src/env.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'airlock-api-tls-'));
let cert: SelfSignedCert;
let other: SelfSignedCert;
let t: TestApi;
beforeAll(async () => {
  cert = await ensureSelfSignedCert(path.join(dir, 'a'));
  other = await ensureSelfSignedCert(path.join(dir, 'b'));
  t = await startTestApi({ env: { API_TLS_CERT: cert.certPath, API_TLS_KEY: cert.keyPath } });
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = async (args: string[], env: Record<string, string>) => {
  let out = '';
  const code = await runCli(args, { io: { out: (s) => (out += s), err: (s) => (out += s) }, env: { AIRLOCK_API_URL: t.api.url, ...env } });
  return { code, out };
};
const pinOf = (c: SelfSignedCert) => `sha256:${c.fingerprint256.replaceAll(':', '').toLowerCase()}`;
const refusalTotal = async () =>
  Number((await t.api.deps.db.execute<{ n: number }>(sql`select coalesce(sum(count), 0)::int as n from audit_refusal_counts`))[0]?.n);

describe('api TLS configuration', () => {
  it('refuses one of the two files without the other, an unreadable file and a key that does not match', () => {
    const base = { AIRLOCK_SECRET: 's'.repeat(40) };
    expect(() => loadApiConfig({ ...base, API_TLS_CERT: cert.certPath })).toThrow(/set both/);
    expect(() => loadApiConfig({ ...base, API_TLS_KEY: cert.keyPath })).toThrow(ConfigError);
    expect(() => loadApiConfig({ ...base, API_TLS_CERT: path.join(dir, 'missing.crt'), API_TLS_KEY: cert.keyPath })).toThrow(/cannot read/);
    expect(() => loadApiConfig({ ...base, API_TLS_CERT: cert.certPath, API_TLS_KEY: other.keyPath })).toThrow(/does not match/);
    expect(() => loadApiConfig({ ...base, API_TLS_CERT: cert.keyPath, API_TLS_KEY: cert.keyPath })).toThrow(/not a PEM certificate/);
    expect(loadApiConfig({ ...base, API_TLS_CERT: cert.certPath, API_TLS_KEY: cert.keyPath }).tls?.fingerprint256).toBe(cert.fingerprint256);
  });
});

describe('the api over TLS', () => {
  it('listens on https only', async () => {
    expect(t.api.url).toMatch(/^https:\/\//);
    const ok = await request(`${t.api.url}/healthz`, { ca: (await import('node:fs')).readFileSync(cert.certPath, 'utf8') });
    expect(ok.status).toBe(200);
    await expect(request(t.api.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
  });

  it('the CLI works with AIRLOCK_API_CA or AIRLOCK_API_PIN, and refuses the api without either', async () => {
    const token = { AIRLOCK_TOKEN: t.adminToken };
    const withCa = await cli(['sites', 'list'], { ...token, AIRLOCK_API_CA: cert.certPath });
    expect(withCa.code, withCa.out).toBe(0);
    const withPin = await cli(['sites', 'list'], { ...token, AIRLOCK_API_PIN: pinOf(cert) });
    expect(withPin.code, withPin.out).toBe(0);
    const untrusted = await cli(['sites', 'list'], token);
    expect(untrusted.code).toBe(3);
    expect(untrusted.out).toMatch(/SELF_SIGNED|certificate/i);
    const wrongCa = await cli(['sites', 'list'], { ...token, AIRLOCK_API_CA: other.certPath });
    expect(wrongCa.code).toBe(3);
    const badPin = await cli(['sites', 'list'], { ...token, AIRLOCK_API_PIN: 'sha256:xyz' });
    expect(badPin.code).toBe(2);
  });

  it('a wrong pin stops the CLI before anything is sent: the token never reaches the server', async () => {
    // An unknown token would be counted as admin.unauthorized if the request arrived.
    const before = await refusalTotal();
    const r = await cli(['sites', 'list'], { AIRLOCK_TOKEN: `aop_${'x'.repeat(43)}`, AIRLOCK_API_PIN: pinOf(other) });
    expect(r.code).toBe(3);
    expect(r.out).toContain('does not match AIRLOCK_API_PIN');
    expect(await refusalTotal()).toBe(before);
    // The same token with the right pin does arrive (and is refused and counted).
    const sent = await cli(['sites', 'list'], { AIRLOCK_TOKEN: `aop_${'x'.repeat(43)}`, AIRLOCK_API_PIN: pinOf(cert) });
    expect(sent.code).toBe(1);
    expect(await refusalTotal()).toBe(before + 1);
  });
});
