import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface SelfSignedCert {
  certPath: string;
  keyPath: string;
  /** `AA:BB:…` SHA-256 of the DER certificate, as agents pin it. */
  fingerprint256: string;
  created: boolean;
}

/**
 * Makes (once) a self-signed certificate for the edge (`pnpm start`, tests) under
 * `{dataDir}/edge-tls/`, for a first start without a real certificate.
 * Agents must pin the printed fingerprint: nothing else vouches for it.
 * Needs the `openssl` binary; Node cannot mint X.509 certificates itself.
 *
 * @example
 *   const cert = await ensureSelfSignedCert('./.airlock', ['airlock.local']);
 *   console.log(`edge certificate SHA-256 ${cert.fingerprint256}`);
 */
export const ensureSelfSignedCert = async (
  dataDir: string,
  hostnames: readonly string[] = ['localhost'],
): Promise<SelfSignedCert> => {
  const dir = join(dataDir, 'edge-tls');
  const certPath = join(dir, 'edge.crt');
  const keyPath = join(dir, 'edge.key');
  let created = false;
  const exists = await Promise.all([access(certPath), access(keyPath)]).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const san = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...hostnames.map((h) => `DNS:${h}`)];
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '825',
      '-subj', '/CN=airlock-edge', '-addext', `subjectAltName=${[...new Set(san)].join(',')}`,
    ]);
    await chmod(keyPath, 0o600);
    created = true;
  }
  const fingerprint256 = new X509Certificate(await readFile(certPath)).fingerprint256;
  return { certPath, keyPath, fingerprint256, created };
};
