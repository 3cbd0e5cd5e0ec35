/** Airlock's CA at startup: made once under the data dir, or given; rotation through an extra trusted bundle. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateCertificateAuthority } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCaBundle } from '../src/ca.ts';
import { ConfigError, loadApiConfig, parseDuration } from '../src/env.ts';
import { silentLogger } from '@airlock/log';
import { createSite, startTestApi, type TestApi } from '@airlock/api/testing';
import { enrollWithCsr, internalCertVerify } from './credential-flows.ts';

const quiet = silentLogger;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-ca-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const caFiles = async (name: string) => {
  const made = await generateCertificateAuthority({ now: new Date('2026-11-20T00:00:00Z') });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  writeFileSync(cert, made.certificatePem);
  writeFileSync(key, made.privateKeyPem, { mode: 0o600 });
  return { cert, key, pem: made.certificatePem };
};

describe('configuration', () => {
  it('reads AIRLOCK_CERT_TTL as seconds or a duration, within bounds', () => {
    expect(parseDuration('86400')).toBe(86400);
    expect(parseDuration('24h')).toBe(86400);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration('1d12h')).toBe(129600);
    for (const bad of ['', 'h', '24x', '1.5h', '-5', '30m1h']) expect(parseDuration(bad), bad).toBeNull();
    expect(loadApiConfig({ AIRLOCK_CERT_TTL: '90m' }).certTtlSeconds).toBe(5400);
    expect(loadApiConfig({}).certTtlSeconds).toBe(86400);
    expect(loadApiConfig({}).trustDomain).toBe('airlock');
    for (const bad of ['30', 'soon', '91d']) expect(() => loadApiConfig({ AIRLOCK_CERT_TTL: bad }), bad).toThrow(ConfigError);
    expect(() => loadApiConfig({ AIRLOCK_TRUST_DOMAIN: 'Not/A/Domain' })).toThrow(ConfigError);
    expect(() => loadApiConfig({ AIRLOCK_CA_CERT: '/x.crt' })).toThrow(/set both or neither/);
  });
});

describe('the CA under the data dir', () => {
  it('is made on first start with a 0600 key, and the same one is loaded on the next start', async () => {
    const dataDir = path.join(dir, 'data');
    const config = loadApiConfig({ AIRLOCK_DATA_DIR: dataDir });
    const first = await loadCaBundle(config, new Date(), quiet);
    expect(statSync(path.join(dataDir, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dataDir, 'ca', 'ca.crt'), 'utf8')).toBe(first.pem);
    const second = await loadCaBundle(config, new Date(), quiet);
    expect(second.signer.fingerprint).toBe(first.signer.fingerprint);
  });

  it('converges on one CA when two processes start on an empty data dir at once', async () => {
    const config = loadApiConfig({ AIRLOCK_DATA_DIR: path.join(dir, 'race') });
    const bundles = await Promise.all(Array.from({ length: 4 }, () => loadCaBundle(config, new Date(), quiet)));
    expect(new Set(bundles.map((b) => b.signer.fingerprint)).size).toBe(1);
  });

  it('refuses to start with a CA key readable by others', async () => {
    const dataDir = path.join(dir, 'loose');
    const config = loadApiConfig({ AIRLOCK_DATA_DIR: dataDir });
    await loadCaBundle(config, new Date(), quiet);
    chmodSync(path.join(dataDir, 'ca', 'ca.key'), 0o644);
    await expect(loadCaBundle(config, new Date(), quiet)).rejects.toThrow(/readable by others/);
  });

  it('refuses to start with a CA key that does not belong to the CA certificate', async () => {
    const a = await caFiles('mismatch-a');
    const b = await caFiles('mismatch-b');
    const config = loadApiConfig({ AIRLOCK_CA_CERT: a.cert, AIRLOCK_CA_KEY: b.key });
    await expect(loadCaBundle(config, new Date(), quiet)).rejects.toThrow(/AIRLOCK_CA_KEY.*does not match/);
    const missing = loadApiConfig({ AIRLOCK_CA_CERT: path.join(dir, 'nope.crt'), AIRLOCK_CA_KEY: b.key });
    await expect(loadCaBundle(missing, new Date(), quiet)).rejects.toThrow(/^AIRLOCK_CA_CERT: ENOENT/);
  });

  it('refuses an extra bundle holding anything but CA certificates', async () => {
    const a = await caFiles('extra-a');
    const dataDir = path.join(dir, 'leafy');
    const first = await startTestApi({ env: { AIRLOCK_CA_CERT: a.cert, AIRLOCK_CA_KEY: a.key, AIRLOCK_DATA_DIR: dataDir } });
    try {
      await createSite(first, 'LEAF');
      const { answer } = await enrollWithCsr(first, 'LEAF');
      const leafBundle = path.join(dir, 'leaf-bundle.pem');
      writeFileSync(leafBundle, answer.credentials.tls.certificate);
      const config = loadApiConfig({ AIRLOCK_CA_CERT: a.cert, AIRLOCK_CA_KEY: a.key, AIRLOCK_CA_BUNDLE_EXTRA: leafBundle });
      await expect(loadCaBundle(config, new Date(), quiet)).rejects.toThrow(/AIRLOCK_CA_BUNDLE_EXTRA: .* is not a CA certificate/);
      writeFileSync(leafBundle, 'junk');
      await expect(loadCaBundle(config, new Date(), quiet)).rejects.toThrow(/AIRLOCK_CA_BUNDLE_EXTRA: not a PEM bundle/);
    } finally {
      await first.close();
    }
  });
});

describe('rotation', () => {
  let oldApi: TestApi;
  let rotated: TestApi | null = null;
  let retired: TestApi | null = null;
  afterAll(async () => {
    await retired?.close();
    await rotated?.close();
    await oldApi.close();
  });

  it('keeps certificates of the old CA valid while it is in the extra bundle, and refuses them once it is gone', async () => {
    const oldCa = await caFiles('old');
    const newCa = await caFiles('new');
    oldApi = await startTestApi({ env: { AIRLOCK_CA_CERT: oldCa.cert, AIRLOCK_CA_KEY: oldCa.key } });
    await createSite(oldApi, 'ROT');
    const { answer } = await enrollWithCsr(oldApi, 'ROT');
    expect(answer.credentials.tls.ca_certificates).toBe(oldCa.pem);

    // Step 2 of the procedure: the new CA signs, the old one is still trusted.
    const extra = path.join(dir, 'extra.pem');
    writeFileSync(extra, oldCa.pem);
    rotated = await startTestApi({ shareDatabaseOf: oldApi, env: { AIRLOCK_CA_CERT: newCa.cert, AIRLOCK_CA_KEY: newCa.key, AIRLOCK_CA_BUNDLE_EXTRA: extra } });
    const ca = await rotated.http.get('/api/v1/internal/ca').set('authorization', `Bearer ${rotated.serviceToken}`);
    expect(ca.body.ca_certificates).toBe(newCa.pem + oldCa.pem);
    expect((await internalCertVerify(rotated, answer.credentials.tls.certificate)).status).toBe(200);
    const fresh = await enrollWithCsr(rotated, 'ROT');
    expect(fresh.answer.credentials.tls.ca_certificates).toBe(newCa.pem + oldCa.pem);
    expect((await internalCertVerify(rotated, fresh.answer.credentials.tls.certificate)).status).toBe(200);

    // Step 3: the old CA leaves the bundle; what it signed is refused.
    retired = await startTestApi({ shareDatabaseOf: oldApi, env: { AIRLOCK_CA_CERT: newCa.cert, AIRLOCK_CA_KEY: newCa.key } });
    const old = await internalCertVerify(retired, answer.credentials.tls.certificate);
    expect(old.status).toBe(401);
    expect(old.body.error.code).toBe('invalid_certificate');
    expect((await internalCertVerify(retired, fresh.answer.credentials.tls.certificate)).status).toBe(200);
  });
});
