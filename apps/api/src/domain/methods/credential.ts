/** What an enrollment method decides about the credential an agent presents, before any SQL. */
import type { EnrollCredential } from '../../store/enrollments.ts';

export type CredentialDecision =
  | { ok: true; credential: Omit<EnrollCredential, 'source'> }
  /** A malformed credential: a 400 naming the field, never a denial (nothing was looked up). */
  | { ok: false; field: string; problem: string };
