import { X509Certificate } from 'node:crypto';
import { ed25519PrivateKeyPem } from '@airlock/crypto';
import * as fs from 'node:fs/promises';
import type { TlsCredentials } from '@airlock/schema';
import type { AgentKey } from './keys.ts';
import { ProtocolError } from './protocol.ts';
import { isSealed, sealedKeyPath } from './sealed.ts';
import { fileMode, writeFileAtomic, type CertificateState, type StatePaths } from './state.ts';

/**
 * The certificate must be for this agent's own key: a server that hands out
 * someone else's certificate (or garbage that merely looks like PEM) is
 * refused before anything is written.
 */
const checkCertificate = (tls: TlsCredentials, key: AgentKey): X509Certificate => {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.certificate);
  } catch {
    throw new ProtocolError('the certificate in the server\'s answer cannot be parsed');
  }
  const spki = cert.publicKey.export({ format: 'der', type: 'spki' });
  // SPKI of an Ed25519 key: 12-byte header + the raw key.
  if (!Buffer.from(spki.subarray(12)).equals(Buffer.from(key.publicKey)) || spki.length !== 44) {
    throw new ProtocolError('the certificate in the server\'s answer is not for this agent\'s key');
  }
  return cert;
};

/**
 * Lays out tls/ as the patch daemon reads it: cert.pem and ca.pem 0644 (public),
 * key.pem 0600 (the agent's own key, which never left this machine). Each file
 * is replaced atomically; the CA bundle goes first, so a reader never sees a
 * certificate without the bundle that verifies it (bundles keep the old CA
 * while a CA rotates).
 */
export const writeTlsFiles = async (paths: StatePaths, tls: TlsCredentials, key: AgentKey): Promise<CertificateState> => {
  const cert = checkCertificate(tls, key);
  await fs.mkdir(paths.tlsDir, { recursive: true, mode: 0o755 });
  await fs.chmod(paths.tlsDir, 0o755);
  // PKCS#8 PEM: TLS stacks (Node, OpenSSL, Go) do not read the OpenSSH format.
  // Sealed state writes no plaintext key: key_file names the sealed agent-key.cred (docs/known-limits.md).
  const sealed = await isSealed(paths);
  if (!sealed) {
    const keyPem = ed25519PrivateKeyPem(key.secretKey);
    const currentKey = await fs.readFile(paths.tlsKey, 'utf8').catch(() => null);
    if (currentKey !== keyPem || (await fileMode(paths.tlsKey)) !== 0o600) await writeFileAtomic(paths.tlsKey, keyPem, 0o600);
  }
  await writeFileAtomic(paths.tlsCa, ensureNewline(tls.ca_certificates), 0o644);
  await writeFileAtomic(paths.tlsCert, ensureNewline(tls.certificate), 0o644);
  return {
    cert_file: paths.tlsCert,
    ca_file: paths.tlsCa,
    key_file: sealed ? sealedKeyPath(paths.privateKey) : paths.tlsKey,
    expires_at: new Date(cert.validTo).toISOString(),
    issued_at: new Date(cert.validFrom).toISOString(),
  };
};

const ensureNewline = (pem: string): string => (pem.endsWith('\n') ? pem : `${pem}\n`);
