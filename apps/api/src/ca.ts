/**
 * Airlock's certificate authority at startup: the PEM files named by
 * AIRLOCK_CA_CERT / AIRLOCK_CA_KEY, or a CA created on first start under
 * `$AIRLOCK_DATA_DIR/ca` (key mode 0600), plus any extra trusted CA
 * certificates (AIRLOCK_CA_BUNDLE_EXTRA) during a rotation. Every replica
 * must load the same CA: see docs/credentials.md, "Airlock's CA".
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  certificateFingerprint,
  certificatesToPem,
  generateCertificateAuthority,
  loadCertificateAuthority,
  parseCertificates,
  readNameConstraints,
  type Certificate,
  isCaCertificate,
  type CertificateAuthority,
} from '@airlock/crypto';
import { checkCaNameConstraints, expectedNameConstraints } from './domain/certificate-names.ts';
import type { ApiConfig } from './env.ts';
import type { Logger } from '@airlock/log';

export interface CaBundle {
  /** The CA that signs new certificates. */
  signer: CertificateAuthority;
  /** Every CA whose certificates are accepted: the signer first, then the extras. */
  trusted: Certificate[];
  /** `trusted` as one PEM file: what agents and mTLS peers are told to trust. */
  pem: string;
}

const readPrivateFile = (file: string): string => {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  return readFileSync(file, 'utf8');
};

/**
 * The CA under the data dir, created on first start with the name
 * constraints the configured certificate names need (issue 18). The files are
 * written to a private temporary directory that is then renamed into place,
 * so a second process starting on the same data dir either wins that rename
 * or reads the winner's complete pair, never half of one.
 */
const dataDirCa = async (config: ApiConfig, now: Date, logger: Logger): Promise<{ certPem: string; keyPem: string }> => {
  const dataDir = config.dataDir;
  const dir = path.join(dataDir, 'ca');
  const certFile = path.join(dir, 'ca.crt');
  const keyFile = path.join(dir, 'ca.key');
  const read = () => ({ certPem: readFileSync(certFile, 'utf8'), keyPem: readPrivateFile(keyFile) });
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const generated = await generateCertificateAuthority({ now, nameConstraints: expectedNameConstraints(config.certNames, config.trustDomain) });
  const tmp = mkdtempSync(path.join(dataDir, 'ca.tmp-'));
  try {
    writeFileSync(path.join(tmp, 'ca.key'), generated.privateKeyPem, { mode: 0o600 });
    writeFileSync(path.join(tmp, 'ca.crt'), generated.certificatePem, { mode: 0o644 });
    renameSync(tmp, dir);
    logger.info('created Airlock CA', { dir });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  return read();
};

/** Startup problems name the variable to fix, not just the errno. */
const named = <T>(name: string, f: () => T): T => {
  try {
    return f();
  } catch (err) {
    throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
};

export const loadCaBundle = async (config: ApiConfig, now: Date, logger: Logger): Promise<CaBundle> => {
  const { caCertPath, caKeyPath, caBundleExtraPath } = config;
  const { certPem, keyPem } =
    caCertPath && caKeyPath
      ? {
          certPem: named('AIRLOCK_CA_CERT', () => readFileSync(caCertPath, 'utf8')),
          keyPem: named('AIRLOCK_CA_KEY', () => readPrivateFile(caKeyPath)),
        }
      : await dataDirCa(config, now, logger);
  const signer = await loadCertificateAuthority(certPem, keyPem, now).catch((err: unknown) => {
    throw new Error(`Airlock CA (${caCertPath ? 'AIRLOCK_CA_CERT / AIRLOCK_CA_KEY' : 'AIRLOCK_DATA_DIR/ca'}): ${err instanceof Error ? err.message : String(err)}`);
  });
  // Certificates outside the CA's constraints would fail every verifier: refuse to start rather than issue them.
  const naming = checkCaNameConstraints(readNameConstraints(signer.certificate), config.certNames, config.trustDomain);
  if (naming.problems.length > 0) throw new Error(`Airlock CA: ${naming.problems.join('; ')}`);
  if (naming.warning) logger.warn(`Airlock CA: ${naming.warning}`, { ca_fingerprint: signer.fingerprint });
  const trusted: Certificate[] = [signer.certificate];
  if (caBundleExtraPath) {
    const extras = named('AIRLOCK_CA_BUNDLE_EXTRA', () => parseCertificates(readFileSync(caBundleExtraPath, 'utf8')));
    for (const cert of extras) {
      // Only CA certificates belong in a trust bundle; a leaf here would be a configuration mistake.
      if (!isCaCertificate(cert)) {
        throw new Error(`AIRLOCK_CA_BUNDLE_EXTRA: ${cert.subject} is not a CA certificate`);
      }
      if (!trusted.some((t) => certificateFingerprint(t) === certificateFingerprint(cert))) trusted.push(cert);
    }
  }
  if (config.databaseUrl && !config.caCertPath) {
    // Replicas on one database each making their own CA would each refuse the others' certificates.
    logger.warn('Airlock CA is the one under AIRLOCK_DATA_DIR; with several api replicas give all of them the same AIRLOCK_CA_CERT / AIRLOCK_CA_KEY', {
      ca_fingerprint: signer.fingerprint,
    });
  }
  return { signer, trusted, pem: certificatesToPem(trusted) };
};
