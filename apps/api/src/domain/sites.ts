/** Sites and their rotatable enrollment keys. */
import { enrollmentKeyFingerprint, mintSecret, secretDigest } from '@airlock/crypto';
import type { CreateSiteRequest, RotateEnrollmentKeyRequest } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import {
  getActiveEnrollmentKey,
  getSite,
  insertEnrollmentKey,
  insertSite,
  latestEnrollmentKeyVersion,
  latestRevocationBySite,
  listSites,
  lockSite,
  revokeActiveEnrollmentKeys,
  type SiteRow,
} from '../store/sites.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';

const siteView = (s: SiteRow) => ({
  site_code: s.code,
  name: s.name,
  policy: s.policy,
  created_at: s.createdAt.toISOString(),
  created_by: s.createdBy,
});

export const createSite = async (deps: Deps, body: CreateSiteRequest, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const site = await insertSite(tx, {
      code: body.site_code,
      name: body.name,
      policy: body.policy,
      createdBy: actor.name,
      createdAt: deps.clock.now(),
    });
    if (!site) {
      throw new ApiError('conflict', `Site ${body.site_code} already exists`, {
        audit: { eventType: 'site.create_refused', siteCode: body.site_code, details: { reason: 'exists' } },
      });
    }
    await recordAudit(tx, deps, client, {
      eventType: 'site.created',
      actor: actor.name,
      siteCode: site.code,
      details: { name: site.name, policy: site.policy },
    });
    return siteView(site);
  });

export const listAllSites = async (deps: Deps) => ({ items: (await listSites(deps.db)).map(siteView) });

const requireSite = async (deps: Deps, code: string): Promise<SiteRow> => {
  const site = await getSite(deps.db, code);
  if (!site) throw new ApiError('not_found', `No site ${code}`);
  return site;
};

/**
 * Mints a new `cek_` and makes it the site's only active key: older keys stop
 * working in the same transaction. Agents already enrolled are untouched;
 * they hold their own `cak_`.
 */
export const rotateEnrollmentKey = async (
  deps: Deps,
  siteCode: string,
  body: RotateEnrollmentKeyRequest,
  actor: Actor,
  client: Client,
) =>
  deps.db.transaction(async (tx) => {
    if (!(await lockSite(tx, siteCode))) throw new ApiError('not_found', `No site ${siteCode}`);
    const now = deps.clock.now();
    const version = (await latestEnrollmentKeyVersion(tx, siteCode)) + 1;
    const revoked = await revokeActiveEnrollmentKeys(tx, siteCode, now);
    const key = mintSecret('cek');
    const fingerprint = enrollmentKeyFingerprint(key, version);
    // Omitted: the configured default; null: no limit, only when asked for explicitly.
    const ttl = body.expires_in_seconds === undefined ? deps.config.siteKeyTtlSeconds : body.expires_in_seconds;
    const maxUses = body.max_uses === undefined ? deps.config.siteKeyMaxUses : body.max_uses;
    const expiresAt = ttl ? addSeconds(now, ttl) : null;
    await insertEnrollmentKey(tx, {
      siteCode,
      version,
      digest: secretDigest(key),
      fingerprint,
      createdAt: now,
      createdBy: actor.name,
      expiresAt,
      maxUses,
    });
    await recordAudit(tx, deps, client, {
      eventType: 'site.enrollment_key_rotated',
      actor: actor.name,
      siteCode,
      details: { version, fingerprint, revoked_previous: revoked, expires_at: expiresAt?.toISOString() ?? null, max_uses: maxUses },
    });
    return {
      key,
      version,
      fingerprint,
      expires_at: expiresAt?.toISOString() ?? null,
      max_uses: maxUses,
    };
  });

export const describeEnrollmentKey = async (deps: Deps, siteCode: string) => {
  await requireSite(deps, siteCode);
  const k = await getActiveEnrollmentKey(deps.db, siteCode);
  if (!k) throw new ApiError('not_found', `Site ${siteCode} has no enrollment key; rotate to create one`);
  return {
    version: k.version,
    fingerprint: k.fingerprint,
    created_at: k.createdAt.toISOString(),
    created_by: k.createdBy,
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
    use_count: k.useCount,
    expires_at: k.expiresAt?.toISOString() ?? null,
    max_uses: k.maxUses,
    // Issue 18: what is left before the key refuses new machines (a leaked key can spend it all).
    uses_left: k.maxUses === null ? null : Math.max(0, k.maxUses - k.useCount),
  };
};

/** Per site, the latest revocation of one of its agents (for the console's rotate hint, issue 18). */
export const latestRevocations = async (deps: Deps): Promise<Map<string, Date>> =>
  new Map((await latestRevocationBySite(deps.db)).map((r) => [r.siteCode, r.revokedAt]));
