/**
 * PKCS#10 certificate requests for an agent's own Ed25519 key: built by the
 * agent (its private key never leaves it), checked by the api before anything
 * is signed. Airlock decides every name and usage of the certificate itself,
 * so a request may ask for nothing beyond the agent's own host name.
 */
import { rawKeyFromEd25519Blob } from './wire.ts';
import { ED25519, ED25519_PKCS8_PREFIX, ED25519_SPKI_PREFIX, subtle, x509, type CryptoKeyPair } from './x509-provider.ts';

/** A PEM request is a few hundred bytes; 4 KiB bounds the parsing a stranger can cause. */
const MAX_CSR_PEM_LENGTH = 4096;

const CSR_PEM = /^-----BEGIN CERTIFICATE REQUEST-----\n((?:[A-Za-z0-9+/=]{1,76}\n)+)-----END CERTIFICATE REQUEST-----\n?$/;
const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME_OID = '2.5.29.17';

/**
 * A PEM PKCS#10 request for the agent's Ed25519 key, signed by it, asking for
 * `CN={hostname}` and SAN DNS={hostname} (what Airlock would set anyway).
 * `secretKey` is the 64-byte tweetnacl form (seed || public key).
 *
 * @example
 *   const csr = await buildAgentCsr(state.secretKey, 'vma-01')
 *   // body of POST /api/v1/enroll: { ..., csr }
 */
export const buildAgentCsr = async (secretKey: Uint8Array, hostname: string): Promise<string> => {
  if (secretKey.length !== 64) throw new TypeError('an Ed25519 secret key is 64 bytes');
  const seed = secretKey.subarray(0, 32);
  const publicRaw = secretKey.subarray(32);
  const privateKey = await subtle.importKey('pkcs8', Buffer.concat([ED25519_PKCS8_PREFIX, seed]), ED25519, false, ['sign']);
  const publicKey = await subtle.importKey('raw', publicRaw, ED25519, true, ['verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [hostname] }],
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostname }])],
    signingAlgorithm: ED25519,
    keys: { privateKey, publicKey } as CryptoKeyPair,
  });
  return csr.toString('pem') + '\n';
};

/**
 * The agent's Ed25519 private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`),
 * the form TLS libraries load beside a certificate (OpenSSL cannot read the
 * OpenSSH format). Write it with mode 0600.
 *
 * @example
 *   writeFileSync('tls/key.pem', ed25519PrivateKeyPem(state.secretKey), { mode: 0o600 })
 */
export const ed25519PrivateKeyPem = (secretKey: Uint8Array): string => {
  if (secretKey.length !== 64) throw new TypeError('an Ed25519 secret key is 64 bytes');
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, secretKey.subarray(0, 32)]);
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`;
};

/** Why a request was refused, in words fit for the 400's `fields.csr` (never echoing the request). */
export type CsrProblem = string;

const pemToDer = (pem: string): Buffer | null => {
  const m = CSR_PEM.exec(pem.replace(/\r\n/g, '\n'));
  if (!m?.[1]) return null;
  const b64 = m[1].replace(/\n/g, '');
  const der = Buffer.from(b64, 'base64');
  // Node's decoder skips junk; one spelling per request.
  return der.toString('base64') === b64 ? der : null;
};

/** Total length (header + content) of the DER SEQUENCE at the start of `der`, or -1. */
const derSequenceLength = (der: Buffer): number => {
  if (der.length < 2 || der[0] !== 0x30) return -1;
  const first = der[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const octets = first & 0x7f;
  if (octets === 0 || octets > 3 || der.length < 2 + octets) return -1;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + (der[2 + i] ?? 0);
  return 2 + octets + length;
};

/**
 * Checks a request against the enrolled key: PEM PKCS#10, Ed25519 key equal
 * to `publicKeyBlob` (an ssh-ed25519 wire blob), a valid self-signature, and
 * no requested extension except SAN DNS={hostname}. The subject is never
 * copied into a certificate, so it is not judged. Null when the request is
 * acceptable; otherwise the problem. Never throws on hostile input.
 *
 * @example
 *   await checkAgentCsr(body.csr, key.blob, body.hostname) // => null | 'is not signed by its key'
 */
export const checkAgentCsr = async (pem: string, publicKeyBlob: Uint8Array, hostname: string): Promise<CsrProblem | null> => {
  if (typeof pem !== 'string' || pem.length > MAX_CSR_PEM_LENGTH) return 'is too long';
  const der = pemToDer(pem);
  if (!der) return 'is not a PEM certificate request';
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch {
    return 'is not a PKCS#10 certificate request';
  }
  // Bytes after the request would be signed by nobody and read by somebody: one request, nothing else.
  if (derSequenceLength(der) !== der.length) return 'has data after the request';
  try {
    const expectedSpki = Buffer.concat([ED25519_SPKI_PREFIX, rawKeyFromEd25519Blob(publicKeyBlob)]);
    if (!Buffer.from(csr.publicKey.rawData).equals(expectedSpki)) return 'is not for the enrolled Ed25519 key';
    if ((csr.signatureAlgorithm as { name?: string }).name !== 'Ed25519') return 'is not signed with Ed25519';
    if (!(await csr.verify())) return 'is not signed by its key';
    for (const attribute of csr.attributes) {
      if (attribute.type !== EXTENSION_REQUEST_OID) return 'carries an attribute Airlock does not accept';
    }
    for (const extension of csr.extensions) {
      if (extension.type !== SUBJECT_ALT_NAME_OID) return 'requests an extension Airlock does not set';
      const names = new x509.SubjectAlternativeNameExtension(extension.rawData).names.items;
      const onlyHostname = names.every((n) => n.type === 'dns' && n.value.toLowerCase() === hostname.toLowerCase());
      if (!onlyHostname) return 'requests a name other than the host name';
    }
    return null;
  } catch {
    // Malformed inner structures (a truncated extension, an unknown key encoding): all "no".
    return 'is not a well-formed certificate request';
  }
};
