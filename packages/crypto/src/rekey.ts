/**
 * Proof that a re-key is wanted by the key it replaces (#8.2). An agent that
 * enrolls again under the same machine_uid with a NEW key signs, with its
 * CURRENT (old) key, the new enrollment's challenge bound to the new key's
 * fingerprint, and sends it as the optional `rekey_signature` field of
 * `POST /api/v1/enroll/verify`. Without it (or with a bad one) any change of
 * key on an active agent waits for an operator as `pending_confirmation`.
 *
 * Signed message: UTF-8 of
 *   `airlock-rekey-v1\n{enrollment_id}\n{challenge}\n{new_fingerprint}`
 * (no trailing newline; new_fingerprint as `ssh-keygen -lf` prints it,
 * `SHA256:…`). Signature forms as for verify: standard base64 of the raw
 * 64-byte Ed25519 signature, or an armored SSHSIG made with
 * `ssh-keygen -Y sign -n airlock-rekey -f OLD_KEY`.
 */
import { signRaw, verifyEnrollmentSignature } from './signatures.ts';

const REKEY_NAMESPACE = 'airlock-rekey';
const REKEY_VERSION = 'airlock-rekey-v1';

/**
 * The exact bytes the old key signs.
 *
 * @example
 *   rekeyMessage(id, challenge, 'SHA256:abc…').toString()
 *   // => 'airlock-rekey-v1\n<id>\n<challenge>\nSHA256:abc…'
 */
export const rekeyMessage = (enrollmentId: string, challenge: string, newFingerprint: string): Buffer => {
  if ([enrollmentId, challenge, newFingerprint].some((part) => part.includes('\n'))) {
    throw new TypeError('re-key message parts must not contain newlines');
  }
  return Buffer.from(`${REKEY_VERSION}\n${enrollmentId}\n${challenge}\n${newFingerprint}`, 'utf8');
};

/**
 * For the agent: the `rekey_signature` value, made with the current key's
 * 64-byte secret key (seed || public key).
 *
 * @example
 *   signRekey(oldSecretKey, enrollment_id, challenge, sshFingerprint(newBlob)) // => 88 base64 characters
 */
export const signRekey = (currentSecretKey: Uint8Array, enrollmentId: string, challenge: string, newFingerprint: string): string =>
  signRaw(currentSecretKey, rekeyMessage(enrollmentId, challenge, newFingerprint));

/** For the api: true when `signature` is the current key's signature over the re-key message. Never throws. */
export const verifyRekeySignature = (
  currentKeyBlob: Uint8Array,
  enrollmentId: string,
  challenge: string,
  newFingerprint: string,
  signature: string,
): boolean => {
  let message: Buffer;
  try {
    message = rekeyMessage(enrollmentId, challenge, newFingerprint);
  } catch {
    return false;
  }
  return verifyEnrollmentSignature(currentKeyBlob, message, signature, REKEY_NAMESPACE);
};
