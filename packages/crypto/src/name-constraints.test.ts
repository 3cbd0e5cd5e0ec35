/**
 * The CA's nameConstraints as OpenSSL enforces them: a certificate the same
 * CA signs for a name outside the constraints fails `openssl verify`, so a
 * bug (or a future change) in the api's naming cannot mint an identity
 * outside the agents' namespace that any verifier accepts.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificateAuthority, issueAgentCertificate, loadCertificateAuthority, type CertificateAuthority } from './certificates.ts';
import { dnsNameWithin, readNameConstraints, type CaNameConstraints } from './name-constraints.ts';
import { generateAgentKeyPair } from './signatures.ts';
import { encodeSshEd25519PublicKey, parseSshEd25519PublicKey } from './ssh.ts';
import { makeTempDir } from './test-support.ts';
import { ED25519, subtle, x509, type CryptoKeyPair } from './x509-provider.ts';

const NOW = new Date('2026-11-22T12:00:00Z');
let tmp: { path: string; remove: () => void };
beforeAll(() => {
  tmp = makeTempDir();
});
afterAll(() => tmp.remove());

/** openssl verify at NOW; returns its whole output, success or not. */
const opensslVerify = (caPem: string, leafPem: string, name: string): string => {
  const caFile = join(tmp.path, `${name}-ca.pem`);
  const leafFile = join(tmp.path, `${name}-leaf.pem`);
  writeFileSync(caFile, caPem);
  writeFileSync(leafFile, leafPem);
  try {
    return execFileSync('openssl', ['verify', '-attime', String(NOW.getTime() / 1000), '-CAfile', caFile, leafFile], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
};

const SUFFIXED: CaNameConstraints = { permittedDns: ['agents.example.internal'], excludeAllDns: false, permittedUriHosts: ['airlock'], excludeAllIps: true };
const NO_DNS: CaNameConstraints = { permittedDns: [], excludeAllDns: true, permittedUriHosts: ['airlock'], excludeAllIps: true };

const makeCa = async (constraints: CaNameConstraints) => {
  const made = await generateCertificateAuthority({ now: NOW, nameConstraints: constraints });
  return { pem: made.certificatePem, ca: await loadCertificateAuthority(made.certificatePem, made.privateKeyPem, NOW) };
};

const agentBlob = () => parseSshEd25519PublicKey(encodeSshEd25519PublicKey(generateAgentKeyPair().publicKey)).blob;

const leaf = (ca: CertificateAuthority, dnsNames: string[], spiffeId = 'spiffe://airlock/site/ACME/agent/0b6d') =>
  issueAgentCertificate(ca, { publicKeyBlob: agentBlob(), commonName: 'agent 0b6d', dnsNames, spiffeId, serverAuth: false, now: NOW, ttlSeconds: 3600 });

/** A leaf with an IP address SAN, which Airlock never issues: built here with the CA's key, to prove the CA refuses it anyway. */
const ipLeaf = async (ca: CertificateAuthority) => {
  const keys = (await subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: ['agent ip'] }],
    issuer: ca.certificate.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signingAlgorithm,
    serialNumber: '4a01',
    notBefore: new Date(NOW.getTime() - 60_000),
    notAfter: new Date(NOW.getTime() + 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'url', value: 'spiffe://airlock/site/ACME/agent/0b6d' },
      ]),
    ],
  });
  return `${cert.toString('pem').replace(/\r\n/g, '\n')}\n`;
};

describe('the CA name constraints', () => {
  it('are critical and say what openssl reads: the DNS suffix and the trust domain permitted, every IP excluded', async () => {
    const { pem, ca } = await makeCa(SUFFIXED);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' });
    expect(text).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:agents\.example\.internal\n\s+URI:airlock\n\s+Excluded:\n\s+IP:0\.0\.0\.0\/0\.0\.0\.0\n\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0/);
    expect(readNameConstraints(ca.certificate)).toEqual(SUFFIXED);
  });

  it('let openssl accept a name under the suffix and refuse, from the same CA, a name outside it, another trust domain and an IP', async () => {
    const { pem, ca } = await makeCa(SUFFIXED);
    expect(opensslVerify(pem, (await leaf(ca, ['vma-01.acme.agents.example.internal'])).pem, 'inside')).toContain(': OK');
    expect(opensslVerify(pem, (await leaf(ca, ['vma-01.acme.agents.example.internal.evil.example'])).pem, 'outside')).toMatch(/permitted subtree violation/);
    expect(opensslVerify(pem, (await leaf(ca, ['db.internal'])).pem, 'service')).toMatch(/permitted subtree violation/);
    expect(opensslVerify(pem, (await leaf(ca, [], 'spiffe://other-domain/site/ACME/agent/0b6d')).pem, 'uri')).toMatch(/permitted subtree violation/);
    expect(opensslVerify(pem, await ipLeaf(ca), 'ip')).toMatch(/excluded subtree violation/);
  });

  it('without a suffix, let openssl accept the SPIFFE-only certificate and refuse any DNS name', async () => {
    const { pem, ca } = await makeCa(NO_DNS);
    expect(readNameConstraints(ca.certificate)).toEqual(NO_DNS);
    expect(opensslVerify(pem, (await leaf(ca, [])).pem, 'spiffe-only')).toContain(': OK');
    expect(opensslVerify(pem, (await leaf(ca, ['vma-01'])).pem, 'bare-host')).toMatch(/excluded subtree violation/);
    expect(opensslVerify(pem, (await leaf(ca, ['localhost'])).pem, 'localhost')).toMatch(/excluded subtree violation/);
  });

  it('are absent from a CA made without them, and refuse a contradiction', async () => {
    const made = await generateCertificateAuthority({ now: NOW });
    const ca = await loadCertificateAuthority(made.certificatePem, made.privateKeyPem, NOW);
    expect(readNameConstraints(ca.certificate)).toBeNull();
    await expect(generateCertificateAuthority({ now: NOW, nameConstraints: { ...SUFFIXED, excludeAllDns: true } })).rejects.toThrow(TypeError);
  });
});

describe('dnsNameWithin', () => {
  it('matches the base and names with labels added on the left, case-insensitively, and nothing else', () => {
    expect(dnsNameWithin('agents.example.internal', 'agents.example.internal')).toBe(true);
    expect(dnsNameWithin('VMA-01.ACME.agents.example.internal', 'agents.example.internal')).toBe(true);
    expect(dnsNameWithin('x.acme.agents.example.internal', '.acme.agents.example.internal')).toBe(true);
    expect(dnsNameWithin('evilagents.example.internal', 'agents.example.internal')).toBe(false);
    expect(dnsNameWithin('agents.example.internal.evil', 'agents.example.internal')).toBe(false);
  });
});
