/**
 * Issue 18, finding 7: what names an agent's certificate carries and what
 * the CA lets a verifier accept, read back by the real openssl. The attack:
 * with only a site key, a client asked for the host name 127.0.0.1 and got a
 * certificate saying CN=127.0.0.1, DNS:127.0.0.1 with serverAuth.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateCertificateAuthority, issueAgentCertificate, parseSshEd25519PublicKey } from '@airlock/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCaBundle } from '../src/ca.ts';
import { ConfigError, loadApiConfig } from '../src/env.ts';
import { createLogger, silentLogger } from '@airlock/log';
import { createSite, enroll, startTestApi, status, type TestApi, verify } from '@airlock/api/testing';
import { enrollWithCsr, newTlsAgent, openssl } from './credential-flows.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-names-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** openssl verify against the bundle at the api's clock, with a purpose; the whole output, pass or fail. */
const opensslVerify = (t: TestApi, bundle: string, certificate: string, purpose: 'sslclient' | 'sslserver', name: string): string => {
  const caFile = path.join(dir, `${name}-ca.pem`);
  const certFile = path.join(dir, `${name}.pem`);
  writeFileSync(caFile, bundle);
  writeFileSync(certFile, certificate);
  const at = String(Math.floor(t.clock.now().getTime() / 1000));
  try {
    return openssl(['verify', '-attime', at, '-purpose', purpose, '-CAfile', caFile, certFile]);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
};

const sans = (certificate: string) => /X509v3 Subject Alternative Name: *\n *(.*)\n/.exec(openssl(['x509', '-noout', '-text'], certificate))?.[1] ?? '';
const eku = (certificate: string) => /X509v3 Extended Key Usage: *\n *(.*)\n/.exec(openssl(['x509', '-noout', '-text'], certificate))?.[1] ?? '';
const subjectOf = (certificate: string) => openssl(['x509', '-noout', '-subject'], certificate).trim();

/** The issue's attack: a site key holder enrolls on an auto site with a chosen host name and collects a certificate. */
const siteKeyCertificate = async (t: TestApi, site: string, hostname: string) => {
  const r = await t.admin('post', `/api/v1/admin/sites/${site}/enrollment-key`).send({});
  const agent = newTlsAgent();
  const e = await enroll(t, {
    site_code: site,
    enrollment_key: r.body.key,
    public_key: agent.publicKey,
    hostname,
    machine_uid: `names-${randomUUID()}`,
    csr: await agent.csr(hostname),
  });
  expect(e.status, JSON.stringify(e.body)).toBe(201);
  const v = await verify(t, e.body.enrollment_id, agent.signEnrollment(e.body.enrollment_id, e.body.challenge));
  expect(v.body.status).toBe('approved');
  const s = await status(t, v.body.poll_token);
  expect(s.status).toBe(200);
  return { agentId: s.body.agent_id as string, tls: s.body.credentials.tls as { certificate: string; ca_certificates: string } };
};

describe('the default profile', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi();
    await createSite(t, 'AUTO-NAMES', 'auto');
  });
  afterAll(async () => t.close());

  it('gives a site-key holder asking for 127.0.0.1 no DNS or IP name, no serverAuth, and a common name that is no host name', async () => {
    const { agentId, tls } = await siteKeyCertificate(t, 'AUTO-NAMES', '127.0.0.1');
    expect(sans(tls.certificate)).toBe(`URI:spiffe://airlock/site/AUTO-NAMES/agent/${agentId}`);
    expect(eku(tls.certificate)).toBe('TLS Web Client Authentication');
    expect(subjectOf(tls.certificate)).toBe(`subject=CN = airlock agent ${agentId}`);
    // A TLS client checking a server certificate refuses it; as a client certificate it chains.
    expect(opensslVerify(t, tls.ca_certificates, tls.certificate, 'sslclient', 'default-client')).toContain(': OK');
    expect(opensslVerify(t, tls.ca_certificates, tls.certificate, 'sslserver', 'default-server')).toMatch(/unsuitable certificate purpose/);
  });

  it('makes its CA with name constraints: no DNS name, no IP, URIs only in the trust domain; the same CA signing a host name fails openssl verify', async () => {
    const { tls } = await siteKeyCertificate(t, 'AUTO-NAMES', 'vma-01');
    const caText = openssl(['x509', '-noout', '-text'], tls.ca_certificates);
    expect(caText).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+URI:airlock\n\s+Excluded:\n\s+DNS:\n\s+IP:0\.0\.0\.0\/0\.0\.0\.0\n\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/);
    // What a bug in the naming (or a stolen signing path) would produce: refused by every verifier.
    const rogue = await issueAgentCertificate(t.api.deps.ca.signer, {
      publicKeyBlob: parseSshEd25519PublicKey(newTlsAgent().publicKey).blob,
      commonName: 'db.internal',
      dnsNames: ['db.internal'],
      spiffeId: 'spiffe://airlock/site/AUTO-NAMES/agent/x',
      serverAuth: true,
      now: t.clock.now(),
      ttlSeconds: 3600,
    });
    expect(opensslVerify(t, tls.ca_certificates, rogue.pem, 'sslserver', 'default-rogue')).toMatch(/excluded subtree violation/);
  });
});

describe('a DNS suffix and serverAuth, configured', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi({ env: { AIRLOCK_CERT_DNS_SUFFIX: 'Agents.Example.Internal', AIRLOCK_CERT_SERVER_AUTH: '1' } });
    await createSite(t, 'ACME-PHX');
    await createSite(t, 'AUTO-SFX', 'auto');
  });
  afterAll(async () => t.close());

  it('names the agent {host}.{site}.{suffix} in lower case, with both usages, inside the CA constraints', async () => {
    const { answer } = await enrollWithCsr(t, 'ACME-PHX', { hostname: 'VMA-01' });
    const tls = answer.credentials.tls;
    expect(sans(tls.certificate)).toBe(`DNS:vma-01.acme-phx.agents.example.internal, URI:spiffe://airlock/site/ACME-PHX/agent/${answer.agent_id}`);
    expect(subjectOf(tls.certificate)).toBe('subject=CN = vma-01.acme-phx.agents.example.internal');
    expect(eku(tls.certificate)).toBe('TLS Web Client Authentication, TLS Web Server Authentication');
    expect(openssl(['x509', '-noout', '-text'], tls.ca_certificates)).toMatch(/Permitted:\n\s+DNS:agents\.example\.internal\n\s+URI:airlock\n/);
    expect(opensslVerify(t, tls.ca_certificates, tls.certificate, 'sslserver', 'suffix-server')).toContain(': OK');
    const rogue = await issueAgentCertificate(t.api.deps.ca.signer, {
      publicKeyBlob: parseSshEd25519PublicKey(newTlsAgent().publicKey).blob,
      commonName: 'vma-02.acme-phx.agents.example.internal.evil.example',
      dnsNames: ['vma-02.acme-phx.agents.example.internal.evil.example'],
      spiffeId: 'spiffe://airlock/site/ACME-PHX/agent/x',
      serverAuth: true,
      now: t.clock.now(),
      ttlSeconds: 3600,
    });
    expect(opensslVerify(t, tls.ca_certificates, rogue.pem, 'sslserver', 'suffix-rogue')).toMatch(/permitted subtree violation/);
  });

  it('still refuses an IP-like host name as a DNS name', async () => {
    const { agentId, tls } = await siteKeyCertificate(t, 'AUTO-SFX', '127.0.0.1');
    expect(sans(tls.certificate)).toBe(`URI:spiffe://airlock/site/AUTO-SFX/agent/${agentId}`);
  });
});

describe('the v1.1 profile, by configuration', () => {
  it('gives the bare host name and serverAuth when asked for, with a CA limited to URIs and IPs, and still no IP literal', async () => {
    const t = await startTestApi({ env: { AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: '1', AIRLOCK_CERT_SERVER_AUTH: '1' } });
    try {
      await createSite(t, 'LEGACY');
      await createSite(t, 'AUTO-LEGACY', 'auto');
      const { answer } = await enrollWithCsr(t, 'LEGACY');
      const tls = answer.credentials.tls;
      expect(sans(tls.certificate)).toBe(`DNS:vma-01, URI:spiffe://airlock/site/LEGACY/agent/${answer.agent_id}`);
      expect(eku(tls.certificate)).toBe('TLS Web Client Authentication, TLS Web Server Authentication');
      expect(openssl(['x509', '-noout', '-text'], tls.ca_certificates)).toMatch(/Permitted:\n\s+URI:airlock\n\s+Excluded:\n\s+IP:/);
      expect(opensslVerify(t, tls.ca_certificates, tls.certificate, 'sslserver', 'legacy-server')).toContain(': OK');
      const ip = await siteKeyCertificate(t, 'AUTO-LEGACY', '127.0.0.1');
      expect(sans(ip.tls.certificate)).toBe(`URI:spiffe://airlock/site/AUTO-LEGACY/agent/${ip.agentId}`);
    } finally {
      await t.close();
    }
  });
});

describe('configuration and existing CAs', () => {
  const quiet = silentLogger;

  it('refuses a suffix together with the legacy host name, and a suffix that is no DNS name', () => {
    expect(() => loadApiConfig({ AIRLOCK_CERT_DNS_SUFFIX: 'agents.example', AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: '1' })).toThrow(/cannot be combined/);
    for (const bad of ['*.example', 'agents..example', 'agents example', '-x.example']) {
      expect(() => loadApiConfig({ AIRLOCK_CERT_DNS_SUFFIX: bad }), bad).toThrow(ConfigError);
    }
    expect(loadApiConfig({}).certNames).toEqual({ dnsSuffix: null, legacyHostname: false, serverAuth: false });
  });

  it('refuses to start when the CA made earlier cannot carry the names now configured', async () => {
    const dataDir = path.join(dir, 'changed-suffix');
    await loadCaBundle(loadApiConfig({ AIRLOCK_DATA_DIR: dataDir, AIRLOCK_CERT_DNS_SUFFIX: 'agents.example.internal' }), new Date(), quiet);
    await expect(loadCaBundle(loadApiConfig({ AIRLOCK_DATA_DIR: dataDir, AIRLOCK_CERT_DNS_SUFFIX: 'other.example' }), new Date(), quiet)).rejects.toThrow(
      /AIRLOCK_CERT_DNS_SUFFIX=other\.example is outside what the CA permits \(agents\.example\.internal\); rotate the CA/,
    );
    await expect(loadCaBundle(loadApiConfig({ AIRLOCK_DATA_DIR: dataDir, AIRLOCK_CERT_DNS_LEGACY_HOSTNAME: '1' }), new Date(), quiet)).rejects.toThrow(/LEGACY_HOSTNAME/);
    // A suffix below the one the CA permits is fine.
    await loadCaBundle(loadApiConfig({ AIRLOCK_DATA_DIR: dataDir, AIRLOCK_CERT_DNS_SUFFIX: 'phx.agents.example.internal' }), new Date(), quiet);
  });

  it('accepts a CA made with the documented openssl command, with and without a suffix', async () => {
    const lines: string[] = [];
    const logger = createLogger({ service: 'api', level: 'warn', write: (line) => lines.push(line) });
    for (const [name, dns, env] of [
      ['doc-ca', 'permitted;DNS:invalid', {}],
      ['doc-ca-suffix', 'permitted;DNS:agents.example.internal', { AIRLOCK_CERT_DNS_SUFFIX: 'agents.example.internal' }],
    ] as const) {
      const key = path.join(dir, `${name}.key`);
      const cert = path.join(dir, `${name}.crt`);
      writeFileSync(key, openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1']), { mode: 0o600 });
      openssl(['req', '-new', '-x509', '-key', key, '-subj', `/CN=Airlock CA 2027 ${name}`, '-days', '3650',
        '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
        '-addext', `nameConstraints=critical,permitted;URI:airlock,${dns},excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::`, '-out', cert]);
      await loadCaBundle(loadApiConfig({ AIRLOCK_CA_CERT: cert, AIRLOCK_CA_KEY: key, ...env }), new Date(), logger);
    }
    expect(lines).toEqual([]);
    // The suffix-less one refuses a suffix, as the api's own would.
    await expect(
      loadCaBundle(loadApiConfig({ AIRLOCK_CA_CERT: path.join(dir, 'doc-ca.crt'), AIRLOCK_CA_KEY: path.join(dir, 'doc-ca.key'), AIRLOCK_CERT_DNS_SUFFIX: 'x.example' }), new Date(), logger),
    ).rejects.toThrow(/outside what the CA permits \(invalid\)/);
  });

  it('starts with a CA that has no constraints (made before issue 18) and says so in the start log', async () => {
    const made = await generateCertificateAuthority({ now: new Date() });
    const cert = path.join(dir, 'old-ca.crt');
    const key = path.join(dir, 'old-ca.key');
    writeFileSync(cert, made.certificatePem);
    writeFileSync(key, made.privateKeyPem, { mode: 0o600 });
    const lines: string[] = [];
    const logger = createLogger({ service: 'api', level: 'warn', write: (line) => lines.push(line) });
    await loadCaBundle(loadApiConfig({ AIRLOCK_CA_CERT: cert, AIRLOCK_CA_KEY: key }), new Date(), logger);
    expect(lines.join('\n')).toMatch(/Airlock CA: the CA carries no name constraints.*Rotate the CA/);
  });
});
