/** Sites and their rotatable enrollment keys. */
import { enrollmentKeyFingerprint, mintSecret, secretDigest } from '@airlock/crypto';
import type { CreateSiteRequest, CreateTenantRequest, RotateEnrollmentKeyRequest, UpdateSiteRequest } from '@airlock/schema';
import { addSeconds } from '../clock.ts';
import { ApiError } from '../errors.ts';
import {
  getActiveEnrollmentKey,
  getSite,
  getTenant,
  insertEnrollmentKey,
  insertSite,
  insertTenant,
  latestEnrollmentKeyVersion,
  latestRevocationBySite,
  listSites,
  listTenants,
  lockSite,
  revokeActiveEnrollmentKeys,
  updateSite,
  type SiteRow,
  type TenantRow,
} from '../store/sites.ts';
import type { Scope } from '../store/scope.ts';
import { recordAudit } from './audit.ts';
import type { Actor, Client, Deps } from './deps.ts';
import { keyCursor, pageOf } from './paging.ts';

const siteView = (s: SiteRow) => ({
  site_code: s.code,
  name: s.name,
  policy: s.policy,
  created_at: s.createdAt.toISOString(),
  created_by: s.createdBy,
  tenant_code: s.tenantCode,
  allowed_cidrs: s.allowedCidrs,
});

const tenantView = (t: TenantRow) => ({ tenant_code: t.code, name: t.name, created_at: t.createdAt.toISOString(), created_by: t.createdBy });

/** Another tenant, or one that does not exist: the same 404 (issue 22). */
const noTenant = (code: string) => new ApiError('not_found', `No tenant ${code}`);

export const createSite = async (deps: Deps, body: CreateSiteRequest, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    // A scoped operator's sites are its tenant's; naming another tenant is naming a missing one.
    const tenantCode = body.tenant_code ?? actor.tenantCode ?? 'default';
    if (!(await getTenant(tx, tenantCode, actor))) throw noTenant(tenantCode);
    const site = await insertSite(tx, {
      code: body.site_code,
      name: body.name,
      policy: body.policy,
      tenantCode,
      allowedCidrs: body.allowed_cidrs,
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
      details: { name: site.name, policy: site.policy, tenant_code: site.tenantCode, allowed_cidrs: site.allowedCidrs },
    });
    return siteView(site);
  });

/** PATCH a site: name, policy, source allowlist; audited with what changed, before and after. */
export const changeSite = async (deps: Deps, code: string, body: UpdateSiteRequest, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const before = await lockSite(tx, code, actor);
    if (!before) throw new ApiError('not_found', `No site ${code}`);
    const site = await updateSite(tx, code, { name: body.name, policy: body.policy, allowedCidrs: body.allowed_cidrs });
    if (!site) throw new ApiError('not_found', `No site ${code}`);
    const changed = Object.fromEntries(
      (['name', 'policy', 'allowed_cidrs'] as const)
        .filter((k) => body[k] !== undefined)
        .map((k) => [k, { from: siteView(before)[k], to: siteView(site)[k] }]),
    );
    await recordAudit(tx, deps, client, { eventType: 'site.updated', actor: actor.name, siteCode: code, details: { changed } });
    return siteView(site);
  });

export const listAllSites = async (deps: Deps, scope: Scope, q: { limit?: number; cursor?: string; tenantCode?: string } = {}) => {
  const limit = q.limit ?? 100;
  const rows = await listSites(deps.db, scope, { limit: limit + 1, afterCode: q.cursor ? keyCursor.decode(q.cursor) : undefined, tenantCode: q.tenantCode });
  const { page, nextCursor } = pageOf(rows, limit, (last) => keyCursor.encode(last.code));
  return { items: page.map(siteView), next_cursor: nextCursor };
};

/** Tenants: a global admin creates them; a scoped operator sees its own only. */
export const createTenant = async (deps: Deps, body: CreateTenantRequest, actor: Actor, client: Client) =>
  deps.db.transaction(async (tx) => {
    const tenant = await insertTenant(tx, { code: body.tenant_code, name: body.name, createdBy: actor.name, createdAt: deps.clock.now() });
    if (!tenant) throw new ApiError('conflict', `Tenant ${body.tenant_code} already exists`);
    await recordAudit(tx, deps, client, { eventType: 'tenant.created', actor: actor.name, details: { tenant_code: tenant.code, name: tenant.name } });
    return tenantView(tenant);
  });

export const listAllTenants = async (deps: Deps, scope: Scope) => ({ items: (await listTenants(deps.db, scope)).map(tenantView) });

const requireSite = async (deps: Deps, code: string, scope: Scope): Promise<SiteRow> => {
  const site = await getSite(deps.db, code, scope);
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
    if (!(await lockSite(tx, siteCode, actor))) throw new ApiError('not_found', `No site ${siteCode}`);
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

export const describeEnrollmentKey = async (deps: Deps, siteCode: string, scope: Scope) => {
  await requireSite(deps, siteCode, scope);
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
export const latestRevocations = async (deps: Deps, siteCodes: readonly string[]): Promise<Map<string, Date>> =>
  new Map((await latestRevocationBySite(deps.db, siteCodes)).map((r) => [r.siteCode, r.revokedAt]));
