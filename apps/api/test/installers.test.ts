/**
 * The installer routes (issue 23) in one process: what a build answers, what
 * a hostile or mistaken request gets (and that it costs the site no
 * rotation), and the signing key's file, rotation and overlap.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INSTALLER_NAMESPACE, parseSshEd25519PublicKey, verifyEnrollmentSignature } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '@airlock/api/testing';

const PIN = `sha256:${'ab'.repeat(32)}`;
const SERVER = 'https://airlock.example.net:8443';
let t: TestApi;
let bundleDir: string;
let bundle: string;

beforeAll(async () => {
  bundleDir = mkdtempSync(path.join(tmpdir(), 'airlock-bundle-'));
  bundle = path.join(bundleDir, 'airlock-agent.mjs');
  writeFileSync(bundle, 'console.log("a stand-in agent bundle");\n');
  t = await startTestApi({ env: { AIRLOCK_AGENT_BUNDLE: bundle } });
});
afterAll(async () => {
  await t.close();
  rmSync(bundleDir, { recursive: true, force: true });
});

let n = 0;
const newSite = async (): Promise<string> => {
  const code = `INST-${++n}`;
  expect((await t.admin('post', '/api/v1/admin/sites').send({ site_code: code, name: code, policy: 'auto' })).status).toBe(201);
  return code;
};
const build = (site: string, body: object) => t.admin('post', `/api/v1/admin/sites/${site}/installer`).send(body);
const keyVersion = async (site: string): Promise<number | null> => {
  const r = await t.admin('get', `/api/v1/admin/sites/${site}/enrollment-key`);
  return r.status === 200 ? (r.body.version as number) : null;
};
const signers = async () => (await t.admin('get', '/api/v1/admin/installers/allowed-signers')).body as { allowed_signers: string; keys: { public_key: string; current: boolean; fingerprint: string }[] };
const verifiesWith = (publicLine: string, file: Buffer, signature: string) =>
  verifyEnrollmentSignature(parseSshEd25519PublicKey(publicLine).blob, file, signature, INSTALLER_NAMESPACE);

describe('POST /api/v1/admin/sites/{site_code}/installer', () => {
  it('mints the next key and answers the signed installer that embeds it', async () => {
    const site = await newSite();
    const r = await build(site, { server: SERVER, pin: PIN, rotate: true });
    expect(r.status).toBe(201);
    const file = Buffer.from(r.body.installer_base64, 'base64');
    expect(r.body.file_name).toMatch(new RegExp(`^airlock-agent-${site}-v1-[0-9A-F]{4}\\.run$`));
    expect(r.body.sha256).toBe(createHash('sha256').update(file).digest('hex'));
    const text = file.toString('utf8');
    expect(text.startsWith('#!/bin/sh\n# airlock-self-sha256 ')).toBe(true);
    expect(text).toContain(`AIRLOCK_KEY='${r.body.enrollment_key}'`);
    expect(text).toContain(`AIRLOCK_PIN='${PIN}'`);
    const { keys } = await signers();
    expect(verifiesWith(keys[0]?.public_key ?? '', file, r.body.signature)).toBe(true);
    expect(r.body.signer_fingerprint).toBe(keys[0]?.fingerprint);
    // The audit row names the key's version, never the key.
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=site.installer_built&site_code=${site}`);
    expect(audit.body.items).toHaveLength(1);
    expect(JSON.stringify(audit.body.items)).not.toContain(r.body.enrollment_key);
  });

  it('embeds a saved key only while it is current, and never answers it back', async () => {
    const site = await newSite();
    const first = await build(site, { server: SERVER, pin: PIN, rotate: true });
    const saved = await build(site, { server: SERVER, pin: PIN, enrollment_key: first.body.enrollment_key });
    expect(saved.status).toBe(201);
    expect(saved.body.enrollment_key).toBeUndefined();
    expect(saved.body.file_name).toBe(first.body.file_name);
    await build(site, { server: SERVER, pin: PIN, rotate: true });
    const stale = await build(site, { server: SERVER, pin: PIN, enrollment_key: first.body.enrollment_key });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toMatch(/current: v2 \(/);
  });

  it('refuses a key of another site (409) and builds nothing, rotates nothing', async () => {
    const mine = await newSite();
    const other = await newSite();
    await build(mine, { server: SERVER, pin: PIN, rotate: true });
    const theirs = await build(other, { server: SERVER, pin: PIN, rotate: true });
    const r = await build(mine, { server: SERVER, pin: PIN, enrollment_key: theirs.body.enrollment_key });
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).not.toContain(theirs.body.enrollment_key);
    expect(await keyVersion(mine)).toBe(1);
    const audit = await t.admin('get', `/api/v1/admin/audit?event_type=site.installer_refused&site_code=${mine}`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].details).toMatchObject({ reason: 'not_current', code: 'conflict' });
    expect(JSON.stringify(audit.body.items)).not.toContain(theirs.body.enrollment_key);
  });

  it('refuses hostile and malformed bodies with 400, before any rotation', async () => {
    const site = await newSite();
    const ca = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    for (const body of [
      { server: "https://x.example';reboot;'", pin: PIN, rotate: true },
      { server: 'https://x.example/$(reboot)', pin: PIN, rotate: true },
      { server: 'http://x.example', pin: PIN, rotate: true },
      { server: 'https://x.example\nAIRLOCK_KEY=x', pin: PIN, rotate: true },
      { server: SERVER, pin: "sha256:'$(reboot)'", rotate: true },
      { server: SERVER, rotate: true },
      { server: SERVER, pin: PIN, ca_pem: ca, rotate: true },
      { server: SERVER, pin: PIN },
      { server: SERVER, pin: PIN, rotate: true, enrollment_key: `cek_${'a'.repeat(43)}` },
      { server: SERVER, pin: PIN, rotate: false },
      { server: SERVER, pin: PIN, enrollment_key: "cek_'; reboot; '" },
      { server: SERVER, ca_pem: "-----BEGIN CERTIFICATE-----\n'$(reboot)'\n-----END CERTIFICATE-----\n", rotate: true },
      { server: SERVER, pin: PIN, rotate: true, extra: 1 },
    ]) {
      const r = await build(site, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect(await keyVersion(site)).toBeNull();
    expect((await build(site, { server: SERVER, ca_pem: `${ca}${'x'.repeat(20_000)}`, rotate: true })).status).toBe(413);
  });

  it('answers 404 for a site that does not exist or cannot be a site code', async () => {
    expect((await build('NOPE-404', { server: SERVER, pin: PIN, rotate: true })).status).toBe(404);
    expect((await build('..%2F..%2Fetc', { server: SERVER, pin: PIN, rotate: true })).status).toBe(404);
  });

  it('refuses an auditor (403): building rotates a key and reveals it', async () => {
    const site = await newSite();
    const r = await t.http.post(`/api/v1/admin/sites/${site}/installer`).set('authorization', `Bearer ${t.auditorToken}`).send({ server: SERVER, pin: PIN, rotate: true });
    expect(r.status).toBe(403);
    expect(await keyVersion(site)).toBeNull();
  });
});

describe('the installer signing key', () => {
  it('is its own 0600 key under the data directory, not the CA key', async () => {
    await signers();
    const dir = path.join(t.api.deps.config.dataDir, 'installer-signing');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'current.key')).mode & 0o777).toBe(0o600);
    expect((await signers()).allowed_signers).toMatch(/^airlock namespaces="airlock-installer" ssh-ed25519 AAAA\S+ airlock-installer-signing\n$/);
  });

  it('rotates with an overlap: both keys listed, new builds signed by the new one, older signatures still verify', async () => {
    const site = await newSite();
    const before = await build(site, { server: SERVER, pin: PIN, rotate: true });
    const oldKey = (await signers()).keys[0]?.public_key ?? '';
    const rotated = await t.admin('post', '/api/v1/admin/installers/signing-key');
    expect(rotated.status).toBe(201);
    const after = await signers();
    expect(after.keys.map((k) => k.current)).toEqual([true, false]);
    expect(after.keys[1]?.public_key).toBe(oldKey);
    expect(after.allowed_signers.trimEnd().split('\n')).toHaveLength(2);
    expect(verifiesWith(oldKey, Buffer.from(before.body.installer_base64, 'base64'), before.body.signature)).toBe(true);
    const next = await build(site, { server: SERVER, pin: PIN, rotate: true });
    const newKey = after.keys[0]?.public_key ?? '';
    expect(verifiesWith(newKey, Buffer.from(next.body.installer_base64, 'base64'), next.body.signature)).toBe(true);
    expect(verifiesWith(oldKey, Buffer.from(next.body.installer_base64, 'base64'), next.body.signature)).toBe(false);
    const audit = await t.admin('get', '/api/v1/admin/audit?event_type=installer.signing_key_rotated');
    expect(audit.body.items).toHaveLength(1);
  });

  it('without an agent bundle answers 503 and rotates nothing', async () => {
    const site = await newSite();
    rmSync(bundle);
    try {
      const r = await build(site, { server: SERVER, pin: PIN, rotate: true });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('service_unavailable');
      expect(await keyVersion(site)).toBeNull();
    } finally {
      writeFileSync(bundle, 'console.log("a stand-in agent bundle");\n');
    }
  });
});
