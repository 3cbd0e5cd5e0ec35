import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeCertificate,
  generateCertificateAuthority,
  inspectPresentedCertificate,
  issueAgentCertificate,
  loadCertificateAuthority,
  parseCertificates,
} from './certificates.ts';
import { buildAgentCsr, checkAgentCsr, ed25519PrivateKeyPem } from './csr.ts';
import { AGENT_NAMESPACE, ENROLL_NAMESPACE, agentSignedMessage, generateAgentKeyPair, signRaw, verifyAgentSignature, verifyEnrollmentSignature } from './signatures.ts';
import { encodeSshEd25519PublicKey, parseSshEd25519PublicKey, sshFingerprint } from './ssh.ts';
import { keygenEd25519, keygenSign, makeTempDir } from './test-support.ts';

const openssl = (args: string[], input?: string): string =>
  execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

const NOW = new Date('2026-11-22T12:00:00Z');
let tmp: { path: string; remove: () => void };
beforeAll(() => {
  tmp = makeTempDir();
});
afterAll(() => tmp.remove());

/** The names the api's legacy profile gives: CN and DNS = host name, serverAuth. */
const names = (host: string) => ({ commonName: host, dnsNames: [host], spiffeId: 'spiffe://airlock/site/A/agent/b', serverAuth: true });

const agentKey = () => {
  const kp = generateAgentKeyPair();
  return { ...kp, blob: parseSshEd25519PublicKey(encodeSshEd25519PublicKey(kp.publicKey)).blob };
};

describe('agent certificate requests', () => {
  it('builds a request openssl verifies, for the agent key, asking only for its host name', async () => {
    const key = agentKey();
    const pem = await buildAgentCsr(key.secretKey, 'vma-01');
    expect(openssl(['req', '-verify', '-noout'], pem)).toBe('');
    const text = openssl(['req', '-noout', '-text'], pem);
    expect(text).toContain('Subject: CN = vma-01');
    expect(text).toContain('DNS:vma-01');
    expect(text).toContain('Public Key Algorithm: ED25519');
    expect(await checkAgentCsr(pem, key.blob, 'vma-01')).toBeNull();
    expect(await checkAgentCsr(pem, key.blob, 'VMA-01')).toBeNull();
  });

  it('writes the agent key as PKCS#8 PEM that openssl reads as the same key the request carries', async () => {
    const key = agentKey();
    const keyPem = ed25519PrivateKeyPem(key.secretKey);
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=]{64}\n-----END PRIVATE KEY-----\n$/);
    expect(openssl(['pkey', '-pubout'], keyPem)).toBe(openssl(['req', '-noout', '-pubkey'], await buildAgentCsr(key.secretKey, 'vma-01')));
  });

  it('refuses a request for another key or another host name, and never throws on junk', async () => {
    const key = agentKey();
    const pem = await buildAgentCsr(key.secretKey, 'vma-01');
    expect(await checkAgentCsr(pem, agentKey().blob, 'vma-01')).toBe('is not for the enrolled Ed25519 key');
    expect(await checkAgentCsr(pem, key.blob, 'vma-02')).toBe('requests a name other than the host name');
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const trailing = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.concat([der, Buffer.from([0, 0])]).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await checkAgentCsr(trailing, key.blob, 'vma-01')).toEqual(expect.any(String));
    for (const junk of ['', 'x'.repeat(5000), pem.replace('REQUEST', 'REQUESTS'), pem.replace(/\n-----END/, 'A\n-----END'), '-----BEGIN CERTIFICATE REQUEST-----\n\n-----END CERTIFICATE REQUEST-----\n']) {
      expect(await checkAgentCsr(junk, key.blob, 'vma-01')).toEqual(expect.any(String));
    }
  });
});

describe('the agent proof signature', () => {
  const id = '5f1c2b3a-7f1a-4d8e-9a51-2f0c7e4b9d13';
  const challenge = 'q5S0oU1N4v1oAbCdEfGhIjKlMnOpQrStUvWxYz012345';

  it('signs airlock-agent-v1 with the challenge id, and refuses newlines', () => {
    expect(agentSignedMessage(id, challenge).toString()).toBe(`airlock-agent-v1\n${id}\n${challenge}`);
    expect(() => agentSignedMessage(`${id}\n`, challenge)).toThrow(TypeError);
  });

  it('accepts a raw signature and an ssh-keygen SSHSIG in namespace airlock-agent, and nothing made for enrollment', () => {
    const key = keygenEd25519(tmp.path, 'agent', 'vma-01');
    const blob = parseSshEd25519PublicKey(key.publicLine).blob;
    const message = agentSignedMessage(id, challenge);
    const sshsig = keygenSign(key.privatePath, message, AGENT_NAMESPACE);
    expect(verifyAgentSignature(blob, message, sshsig)).toBe(true);
    // A signature in the enrollment namespace is no proof here, and the reverse.
    const enrollSig = keygenSign(key.privatePath, message, ENROLL_NAMESPACE);
    expect(verifyAgentSignature(blob, message, enrollSig)).toBe(false);
    expect(verifyEnrollmentSignature(blob, message, sshsig)).toBe(false);

    const raw = agentKey();
    expect(verifyAgentSignature(raw.blob, message, signRaw(raw.secretKey, message))).toBe(true);
    expect(verifyAgentSignature(raw.blob, agentSignedMessage(id, 'other'), signRaw(raw.secretKey, message))).toBe(false);
  });
});

describe("Airlock's CA", () => {
  it('makes a P-256 CA that openssl reads as a CA, and issues certificates openssl verifies against it', async () => {
    const made = await generateCertificateAuthority({ now: NOW });
    const ca = await loadCertificateAuthority(made.certificatePem, made.privateKeyPem, NOW);
    expect(openssl(['x509', '-noout', '-text'], made.certificatePem)).toMatch(/CA:TRUE, pathlen:0[\s\S]*Certificate Sign, CRL Sign/);
    expect(openssl(['pkey', '-noout', '-text'], made.privateKeyPem)).toContain('NIST CURVE: P-256');

    const key = agentKey();
    const issued = await issueAgentCertificate(ca, { ...names('vma-01'), publicKeyBlob: key.blob, now: NOW, ttlSeconds: 3600 });
    expect(issued.notAfter.toISOString()).toBe('2026-11-22T13:00:00.000Z');
    writeFileSync(join(tmp.path, 'ca.pem'), made.certificatePem);
    writeFileSync(join(tmp.path, 'leaf.pem'), issued.pem);
    const at = String(NOW.getTime() / 1000);
    expect(openssl(['verify', '-attime', at, '-CAfile', join(tmp.path, 'ca.pem'), join(tmp.path, 'leaf.pem')])).toContain('OK');
    expect(openssl(['x509', '-noout', '-serial'], issued.pem).trim().toLowerCase()).toBe(`serial=${issued.serial}`);
    expect(describeCertificate(issued.pem)).toMatchObject({ dnsNames: ['vma-01'], uris: ['spiffe://airlock/site/A/agent/b'], serial: issued.serial });

    expect(await inspectPresentedCertificate(issued.pem, [ca.certificate])).toMatchObject({
      serial: issued.serial,
      issuerFingerprint: ca.fingerprint,
      // The presented certificate names its key the way the api names an agent's key.
      keyFingerprint: sshFingerprint(key.blob),
    });
    const other = await generateCertificateAuthority({ now: NOW });
    expect(await inspectPresentedCertificate(issued.pem, parseCertificates(other.certificatePem))).toBeNull();
  });

  it('loads CAs made by openssl (P-256 in SEC1 form, and Ed25519)', async () => {
    for (const [name, genArgs] of [
      ['p256', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout']],
      ['ed25519', ['genpkey', '-algorithm', 'ed25519']],
    ] as const) {
      const keyFile = join(tmp.path, `${name}.key`);
      writeFileSync(keyFile, openssl([...genArgs]));
      const cert = openssl(['req', '-new', '-x509', '-key', keyFile, '-subj', `/CN=Ops CA ${name}`, '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
      const ca = await loadCertificateAuthority(cert, readFileSync(keyFile, 'utf8'), new Date());
      const key = agentKey();
      const issued = await issueAgentCertificate(ca, { ...names('vma-01'), publicKeyBlob: key.blob, now: new Date(), ttlSeconds: 3600 });
      writeFileSync(join(tmp.path, `${name}.crt`), cert);
      writeFileSync(join(tmp.path, `${name}-leaf.pem`), issued.pem);
      expect(openssl(['verify', '-CAfile', join(tmp.path, `${name}.crt`), join(tmp.path, `${name}-leaf.pem`)]), name).toContain('OK');
    }
  });

  it('refuses a key that is not the certificate one, a certificate that is no CA, and junk', async () => {
    const a = await generateCertificateAuthority({ now: NOW });
    const b = await generateCertificateAuthority({ now: NOW });
    await expect(loadCertificateAuthority(a.certificatePem, b.privateKeyPem, NOW)).rejects.toThrow(/does not match/);
    await expect(loadCertificateAuthority(a.certificatePem, 'junk', NOW)).rejects.toThrow(/not a PEM private key/);
    await expect(loadCertificateAuthority('junk', a.privateKeyPem, NOW)).rejects.toThrow(/PEM bundle/);
    await expect(loadCertificateAuthority(a.certificatePem, a.privateKeyPem, new Date('2040-01-01'))).rejects.toThrow(/not valid now/);
    const keyFile = join(tmp.path, 'leafonly.key');
    writeFileSync(keyFile, openssl(['genpkey', '-algorithm', 'ed25519']));
    // A config without openssl's default v3_ca section, so the certificate says CA:FALSE.
    const cnf = join(tmp.path, 'leaf.cnf');
    writeFileSync(cnf, '[req]\ndistinguished_name=dn\nx509_extensions=leaf\n[dn]\n[leaf]\nbasicConstraints=critical,CA:FALSE\n');
    const notCa = openssl(['req', '-new', '-x509', '-config', cnf, '-key', keyFile, '-subj', '/CN=leaf', '-days', '1']);
    await expect(loadCertificateAuthority(notCa, readFileSync(keyFile, 'utf8'), new Date())).rejects.toThrow(/not a CA/);
    expect(() => parseCertificates(`${a.certificatePem}trailing junk`)).toThrow();
  });
});
