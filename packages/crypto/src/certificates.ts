/**
 * Airlock's certificate authority: making one, loading one, issuing an
 * agent's certificate for its own key, and checking a certificate a peer was
 * shown. X.509 encoding is @peculiar/x509's (a maintained library over
 * WebCrypto), never hand-built DER.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { nameConstraintsExtension, type CaNameConstraints } from './name-constraints.ts';
import { sshFingerprint } from './ssh.ts';
import { ed25519Blob, rawKeyFromEd25519Blob } from './wire.ts';
import { ED25519, ED25519_SPKI_PREFIX, subtle, x509, type CryptoKey, type CryptoKeyPair, type SigningAlgorithm } from './x509-provider.ts';
import type { webcrypto } from 'node:crypto';

export type Certificate = InstanceType<typeof x509.X509Certificate>;

/**
 * ECDSA P-256 for the CA key: every TLS stack, HSM and cloud KMS signs and
 * verifies it, so the CA can move into one later without changing peers.
 * Agents' leaf keys stay Ed25519 (their enrolled SSH key).
 */
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** A leaf is valid from slightly before its issue, so a peer whose clock runs a little behind accepts it. */
const CLOCK_SKEW_SECONDS = 60;
const MAX_CERTIFICATE_PEM_LENGTH = 8192;
const CERT_PEM_BLOCK = /-----BEGIN CERTIFICATE-----\n((?:[A-Za-z0-9+/=]{1,76}\n)+)-----END CERTIFICATE-----\n?/g;

export interface CertificateAuthority {
  certificate: Certificate;
  certificatePem: string;
  signingKey: CryptoKey;
  signingAlgorithm: SigningAlgorithm;
  /** SHA-256 of the certificate's DER, lower-case hex: what issued rows record as their issuer. */
  fingerprint: string;
}

/** The SHA-256 of a certificate's DER, lower-case hex. */
export const certificateFingerprint = (cert: Certificate): string =>
  createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');

const toPem = (cert: Certificate): string => cert.toString('pem').replace(/\r\n/g, '\n') + '\n';

/**
 * Splits a PEM bundle into certificates; throws on anything that is not a
 * sequence of well-formed CERTIFICATE blocks.
 *
 * @example
 *   parseCertificates(readFileSync(process.env.AIRLOCK_CA_BUNDLE_EXTRA, 'utf8')).length // => 1
 */
export const parseCertificates = (pem: string): Certificate[] => {
  const text = pem.replace(/\r\n/g, '\n');
  const blocks = [...text.matchAll(CERT_PEM_BLOCK)];
  const leftover = text.replace(CERT_PEM_BLOCK, '').trim();
  if (blocks.length === 0 || leftover.length > 0) throw new Error('not a PEM bundle of certificates');
  return blocks.map((m) => new x509.X509Certificate(Buffer.from((m[1] ?? '').replace(/\n/g, ''), 'base64')));
};

/** True for a certificate with basicConstraints CA:TRUE: the only kind a trust bundle should hold. */
export const isCaCertificate = (cert: Certificate): boolean => cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;

/** PEM of certificates, one after another, as TLS libraries read a CA file. */
export const certificatesToPem = (certs: readonly Certificate[]): string => certs.map(toPem).join('');

/**
 * A new self-signed CA: ECDSA P-256, CA:true with path length 0 (it signs
 * agents only), keyCertSign, and when given, critical nameConstraints (what
 * names a certificate below it may carry, checked by every verifier). The
 * common name carries the creation date so a rotated CA never shares a
 * subject with the one it replaces.
 *
 * @example
 *   const { certificatePem, privateKeyPem } = await generateCertificateAuthority({ now: new Date() })
 */
export const generateCertificateAuthority = async (opts: {
  now: Date;
  validityDays?: number;
  commonName?: string;
  nameConstraints?: CaNameConstraints;
}): Promise<{ certificatePem: string; privateKeyPem: string }> => {
  const keys = (await subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cn = opts.commonName ?? `Airlock CA ${opts.now.toISOString().slice(0, 10)} ${randomBytes(4).toString('hex')}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [cn] }, { O: ['Airlock'] }],
    keys,
    signingAlgorithm: ECDSA_P256,
    serialNumber: randomSerial(),
    notBefore: new Date(opts.now.getTime() - CLOCK_SKEW_SECONDS * 1000),
    notAfter: new Date(opts.now.getTime() + (opts.validityDays ?? 3650) * 86_400_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(opts.nameConstraints ? [nameConstraintsExtension(opts.nameConstraints)] : []),
    ],
  });
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { certificatePem: toPem(cert), privateKeyPem };
};

/**
 * Loads a CA from PEM (certificate, and its private key as PKCS#8 or SEC1;
 * ECDSA P-256 or Ed25519). Throws a readable Error when the certificate is no
 * CA, is outside its validity at `now`, or does not belong to the key.
 */
export const loadCertificateAuthority = async (
  certificatePem: string,
  privateKeyPem: string,
  now: Date,
): Promise<CertificateAuthority> => {
  const certs = parseCertificates(certificatePem);
  const certificate = certs[0];
  if (!certificate || certs.length !== 1) throw new Error('the CA certificate file must hold exactly one certificate');
  if (!isCaCertificate(certificate)) throw new Error('the CA certificate is not a CA (basicConstraints CA:TRUE is missing)');
  if (now < certificate.notBefore || now > certificate.notAfter) throw new Error('the CA certificate is not valid now');

  let keyObject;
  try {
    keyObject = createPrivateKey(privateKeyPem);
  } catch {
    throw new Error('the CA key is not a PEM private key');
  }
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  if (!spki.equals(Buffer.from(certificate.publicKey.rawData))) throw new Error('the CA key does not match the CA certificate');
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' });
  let signingAlgorithm: SigningAlgorithm;
  let importAlgorithm: webcrypto.AlgorithmIdentifier | webcrypto.EcKeyImportParams;
  if (keyObject.asymmetricKeyType === 'ec' && keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
    importAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  } else if (keyObject.asymmetricKeyType === 'ed25519') {
    signingAlgorithm = ED25519;
    importAlgorithm = ED25519;
  } else {
    throw new Error('the CA key must be ECDSA P-256 or Ed25519');
  }
  const signingKey = await subtle.importKey('pkcs8', pkcs8, importAlgorithm, false, ['sign']);
  return { certificate, certificatePem: toPem(certificate), signingKey, signingAlgorithm, fingerprint: certificateFingerprint(certificate) };
};

/** 128 random bits, positive and without a leading zero byte (RFC 5280 §4.1.2.2: at most 20 octets). */
const randomSerial = (): string => {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
};

export interface IssuedCertificate {
  pem: string;
  /** Lower-case hex, as openssl prints it without colons. */
  serial: string;
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

/** What an agent's certificate says, decided by the caller (the api's naming policy), never by the request. */
export interface AgentCertificateRequest {
  /** The agent's enrolled key: an ssh-ed25519 wire blob. */
  publicKeyBlob: Uint8Array;
  commonName: string;
  /** DNS SANs, already checked by the caller (may be empty: the SPIFFE URI is the identity). */
  dnsNames: readonly string[];
  spiffeId: string;
  /** Add EKU serverAuth to clientAuth. */
  serverAuth: boolean;
  now: Date;
  ttlSeconds: number;
}

/**
 * Signs a certificate for an agent's Ed25519 key: subject CN=`commonName`,
 * SAN DNS=`dnsNames` (if any) and URI=`spiffeId`, EKU clientAuth (and
 * serverAuth when asked), KeyUsage digitalSignature, CA:false, valid from
 * `now` (less a minute of skew) to `now + ttlSeconds`, random serial.
 *
 * @example
 *   await issueAgentCertificate(ca, { publicKeyBlob, commonName: 'vma-01.acme.agents.example.internal',
 *     dnsNames: ['vma-01.acme.agents.example.internal'], spiffeId: 'spiffe://airlock/site/ACME/agent/0b6d…',
 *     serverAuth: false, now, ttlSeconds: 86400 })
 */
export const issueAgentCertificate = async (ca: CertificateAuthority, req: AgentCertificateRequest): Promise<IssuedCertificate> => {
  const spki = Buffer.concat([ED25519_SPKI_PREFIX, rawKeyFromEd25519Blob(req.publicKeyBlob)]);
  const publicKey = await subtle.importKey('spki', spki, ED25519, true, ['verify']);
  const notBefore = new Date(Math.floor(req.now.getTime() / 1000) * 1000 - CLOCK_SKEW_SECONDS * 1000);
  const notAfter = new Date(Math.floor(req.now.getTime() / 1000) * 1000 + req.ttlSeconds * 1000);
  const usages = req.serverAuth ? [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [req.commonName] }],
    issuer: ca.certificate.subjectName,
    publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signingAlgorithm,
    serialNumber: randomSerial(),
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension([
        ...req.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        { type: 'url', value: req.spiffeId },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return { pem: toPem(cert), serial: cert.serialNumber.toLowerCase(), fingerprint: certificateFingerprint(cert), notBefore, notAfter };
};

export interface PresentedCertificate {
  serial: string;
  fingerprint: string;
  issuerFingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** SSH SHA256 fingerprint of the certificate's Ed25519 key (null for any other key type: never one of ours). */
  keyFingerprint: string | null;
}

/** The SSH fingerprint of a certificate's key when it is Ed25519: how the api names an agent's key. */
const ed25519KeyFingerprint = (cert: Certificate): string | null => {
  const spki = Buffer.from(cert.publicKey.rawData);
  if (spki.length !== ED25519_SPKI_PREFIX.length + 32 || !spki.subarray(0, ED25519_SPKI_PREFIX.length).equals(ED25519_SPKI_PREFIX)) return null;
  return sshFingerprint(ed25519Blob(spki.subarray(ED25519_SPKI_PREFIX.length)));
};

/**
 * Reads one PEM certificate and finds which trusted CA signed it. Null for
 * garbage, several certificates, or a certificate none of `trusted` signed.
 * Validity dates are returned, not judged: the caller owns the clock.
 */
export const inspectPresentedCertificate = async (
  pem: string,
  trusted: readonly Certificate[],
): Promise<PresentedCertificate | null> => {
  if (typeof pem !== 'string' || pem.length > MAX_CERTIFICATE_PEM_LENGTH) return null;
  let cert: Certificate;
  try {
    const certs = parseCertificates(pem);
    if (certs.length !== 1 || !certs[0]) return null;
    cert = certs[0];
  } catch {
    return null;
  }
  for (const ca of trusted) {
    try {
      if (cert.issuer !== ca.subject) continue;
      if (await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })) {
        return {
          serial: cert.serialNumber.toLowerCase(),
          fingerprint: certificateFingerprint(cert),
          issuerFingerprint: certificateFingerprint(ca),
          notBefore: cert.notBefore,
          notAfter: cert.notAfter,
          keyFingerprint: ed25519KeyFingerprint(cert),
        };
      }
    } catch {
      // A key the provider cannot use is simply not the issuer.
    }
  }
  return null;
};

/**
 * What an agent needs to know about a certificate it holds: validity and names.
 *
 * @example
 *   describeCertificate(readFileSync('tls/cert.pem', 'utf8')).notAfter // => Date
 */
export const describeCertificate = (pem: string): { serial: string; notBefore: Date; notAfter: Date; dnsNames: string[]; uris: string[] } => {
  const [cert] = parseCertificates(pem);
  if (!cert) throw new Error('no certificate');
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    uris: names.filter((n) => n.type === 'url').map((n) => n.value),
  };
};
