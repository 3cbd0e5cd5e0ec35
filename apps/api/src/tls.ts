/**
 * The api's optional TLS listener (#8.8): API_TLS_CERT / API_TLS_KEY, PEM
 * files, both or neither. Read and checked once at startup, so a wrong path,
 * a key that does not match the certificate or an expired certificate stops
 * the start with a readable message instead of failing on the first client.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ApiTlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** `AA:BB:…` SHA-256 of the certificate, what AIRLOCK_API_PIN compares. */
  fingerprint256: string;
}

const readPem = (name: string, file: string, problems: string[]): Buffer | null => {
  try {
    return readFileSync(file);
  } catch (err) {
    problems.push(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return null;
  }
};

/** The certificate and key, or the list of problems with them. */
export const loadApiTls = (certPath: string, keyPath: string, now = new Date()): { material: ApiTlsMaterial | null; problems: string[] } => {
  const problems: string[] = [];
  const cert = readPem('API_TLS_CERT', certPath, problems);
  const key = readPem('API_TLS_KEY', keyPath, problems);
  if (!cert || !key) return { material: null, problems };
  let x509: X509Certificate | null = null;
  let keyObject: KeyObject | null = null;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    problems.push(`API_TLS_CERT: ${certPath} is not a PEM certificate`);
  }
  try {
    keyObject = createPrivateKey(key);
  } catch {
    problems.push(`API_TLS_KEY: ${keyPath} is not an unencrypted PEM private key`);
  }
  if (x509 && keyObject && !x509.checkPrivateKey(keyObject)) problems.push('API_TLS_KEY: does not match the certificate in API_TLS_CERT');
  if (x509 && new Date(x509.validTo) <= now) problems.push(`API_TLS_CERT: expired on ${new Date(x509.validTo).toISOString()}`);
  if (problems.length > 0 || !x509) return { material: null, problems };
  return { material: { cert, key, fingerprint256: x509.fingerprint256 }, problems };
};
