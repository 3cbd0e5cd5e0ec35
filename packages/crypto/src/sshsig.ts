/**
 * Making SSHSIG signatures (PROTOCOL.sshsig), the format `ssh-keygen -Y sign`
 * writes and `ssh-keygen -Y verify` checks. Verifying lives in signatures.ts.
 * No maintained npm package writes SSHSIG (sshpk reads and writes keys and
 * raw signatures, not this envelope), and the format is five wire strings.
 */
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { publicKeyOfSecretKey } from './ssh.ts';
import { ED25519_KEY_TYPE, ed25519Blob, wireString, wireUint32 } from './wire.ts';

/** The SSHSIG namespace of Airlock's installers (`ssh-keygen -Y verify -n airlock-installer`). */
export const INSTALLER_NAMESPACE = 'airlock-installer';

const MAGIC = Buffer.from('SSHSIG', 'latin1');
const HASH = 'sha512';
// ssh-keygen wraps the armored body at 70 columns.
const ARMOR_WIDTH = 70;

/**
 * An armored SSHSIG of `message` by an Ed25519 key (64-byte secret key, seed
 * || public key), hash sha512, as `ssh-keygen -Y sign -n NAMESPACE` writes it.
 *
 * @example
 *   const sig = signSshsig(secretKey, readFileSync('x.run'), INSTALLER_NAMESPACE)
 *   // '-----BEGIN SSH SIGNATURE-----\n…\n-----END SSH SIGNATURE-----\n'
 */
export const signSshsig = (secretKey: Uint8Array, message: Uint8Array, namespace: string): string => {
  if (namespace.length === 0) throw new TypeError('an SSHSIG namespace must not be empty');
  const publicKey = publicKeyOfSecretKey(secretKey);
  const digest = createHash(HASH).update(message).digest();
  const signed = Buffer.concat([MAGIC, wireString(namespace), wireString(''), wireString(HASH), wireString(digest)]);
  const signature = nacl.sign.detached(signed, secretKey);
  const blob = Buffer.concat([
    MAGIC,
    wireUint32(1),
    wireString(ed25519Blob(publicKey)),
    wireString(namespace),
    wireString(''),
    wireString(HASH),
    wireString(Buffer.concat([wireString(ED25519_KEY_TYPE), wireString(signature)])),
  ]).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < blob.length; i += ARMOR_WIDTH) lines.push(blob.slice(i, i + ARMOR_WIDTH));
  return `-----BEGIN SSH SIGNATURE-----\n${lines.join('\n')}\n-----END SSH SIGNATURE-----\n`;
};
