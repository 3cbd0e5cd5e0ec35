/**
 * Enrollment with a pairing code (attended): the agent presents a one-time
 * code an operator made. Decided here: whether the code is well-formed, and
 * the digest the database knows it by (an HMAC under the server secret, so a
 * stolen table reveals no code). Whether the code exists, belongs to the site,
 * is unused, unexpired and unrevoked is one statement that also consumes it
 * (store/enrollments.ts): the check and the use cannot be split by a race.
 */
import { normalizePairingCode } from '@airlock/crypto';
import { pairingCodeDigest } from '../pairing-codes.ts';
import type { CredentialDecision } from './credential.ts';

/**
 * @example
 *   pairingCodeCredential('ax7k pj3f th2q', secret) // { ok: true, credential: { kind: 'pairing_code', digest: '…' } }
 *   pairingCodeCredential('nope', secret)           // { ok: false, field: 'pairing_code', problem: 'is not a pairing code …' }
 */
export const pairingCodeCredential = (code: string, serverSecret: string): CredentialDecision => {
  const canonical = normalizePairingCode(code);
  if (!canonical) return { ok: false, field: 'pairing_code', problem: 'is not a pairing code (12 symbols, XXXX-XXXX-XXXX)' };
  return { ok: true, credential: { kind: 'pairing_code', digest: pairingCodeDigest(serverSecret, canonical) } };
};
