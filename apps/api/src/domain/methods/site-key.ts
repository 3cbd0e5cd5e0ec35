/**
 * Enrollment with the site's enrollment key (zero-touch, `cek_`): one key per
 * site, on every machine of a push. Decided here: the digest the key is looked
 * up by, and which use alerts an enrollment raises. The key's validity (this
 * site's current key, unexpired, uses left) is checked and a use counted by
 * the one statement that creates the enrollment (store/enrollments.ts,
 * store/site-key-use.ts), so concurrent enrollments cannot overspend it.
 */
import { secretDigest } from '@airlock/crypto';
import type { CredentialDecision } from './credential.ts';

/** A cek_ is a 256-bit random secret: a plain SHA-256 digest suffices (no HMAC, no slow hash). */
export const siteKeyCredential = (key: string): CredentialDecision => ({ ok: true, credential: { kind: 'enrollment_key', digest: secretDigest(key) } });

export type SiteKeyAlert = 'site.enrollment_key_uses_high' | 'site.enrollment_key_use_burst';

/**
 * The alert events for the thresholds the enrolling statement found crossed
 * (issue 18: a leaked cek_ spends a site's uses; an alert watches these rows).
 */
export const siteKeyAlerts = (crossed: { usesHigh: boolean; burst: boolean }): SiteKeyAlert[] => [
  ...(crossed.usesHigh ? (['site.enrollment_key_uses_high'] as const) : []),
  ...(crossed.burst ? (['site.enrollment_key_use_burst'] as const) : []),
];
