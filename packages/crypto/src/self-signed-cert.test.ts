import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureSelfSignedCert } from './self-signed-cert.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-selfsigned-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ensureSelfSignedCert', () => {
  it('creates a certificate once and reports its SHA-256 fingerprint for pinning', async () => {
    const first = await ensureSelfSignedCert(dir, ['edge.example']);
    expect(first.created).toBe(true);
    const cert = new X509Certificate(readFileSync(first.certPath));
    expect(first.fingerprint256).toBe(cert.fingerprint256);
    expect(cert.subjectAltName).toContain('DNS:edge.example');
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(first.keyPath)))).toBe(true);

    const again = await ensureSelfSignedCert(dir);
    expect(again.created).toBe(false);
    expect(again.fingerprint256).toBe(first.fingerprint256);
  });
});
