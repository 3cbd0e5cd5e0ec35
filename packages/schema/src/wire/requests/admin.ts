/** Request bodies of the admin routes (operators: admin writes, auditor reads). */
import * as v from 'valibot';
import { CidrList, Instant, KeyFingerprint, OperatorName, printable, SiteCode, strict, TenantCode } from '../formats.ts';
import { OPERATOR_ROLES, SITE_POLICIES, WEBHOOK_EVENT_TYPES, WEBHOOK_FORMATS } from '../vocabulary.ts';
import { Labels } from './enrollment.ts';

const SitePolicy = v.picklist(SITE_POLICIES, 'must be "manual" or "auto"');

export const CreateSiteRequest = strict({
  site_code: SiteCode,
  name: printable(100, 1),
  policy: v.optional(SitePolicy, 'manual'),
  /** Issue 22: the site's tenant (default `default`); a scoped operator may name only its own. */
  tenant_code: v.optional(TenantCode),
  /** Enroll accepted only from these sources; empty or absent: any. */
  allowed_cidrs: v.optional(CidrList, []),
});
export type CreateSiteRequest = v.InferOutput<typeof CreateSiteRequest>;

/** PATCH /api/v1/admin/sites/{site_code}: what changes; at least one field. */
export const UpdateSiteRequest = v.pipe(
  strict({ name: v.optional(printable(100, 1)), policy: v.optional(SitePolicy), allowed_cidrs: v.optional(CidrList) }),
  v.check((b) => Object.keys(b).length > 0, 'must name at least one of name, policy, allowed_cidrs'),
);
export type UpdateSiteRequest = v.InferOutput<typeof UpdateSiteRequest>;

export const CreateTenantRequest = strict({ tenant_code: TenantCode, name: printable(100, 1) });
export type CreateTenantRequest = v.InferOutput<typeof CreateTenantRequest>;

/** PATCH /api/v1/admin/agents/{id}: the agent's labels, replaced whole. */
export const UpdateAgentRequest = strict({ labels: Labels });

// Omitted: the server's default (AIRLOCK_SITE_KEY_TTL_SECONDS / AIRLOCK_SITE_KEY_MAX_USES, #8.11);
// null: explicitly no limit.
export const RotateEnrollmentKeyRequest = strict({
  expires_in_seconds: v.optional(
    v.nullable(v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(60), v.maxValue(366 * 86400))),
  ),
  max_uses: v.optional(
    v.nullable(v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(1), v.maxValue(1_000_000))),
  ),
});
export type RotateEnrollmentKeyRequest = v.InferOutput<typeof RotateEnrollmentKeyRequest>;

export const CreatePairingCodeRequest = strict({
  site_code: SiteCode,
  ttl_seconds: v.optional(
    v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(60, 'must be at least 60'), v.maxValue(86400, 'must be at most 86400')),
  ),
  note: v.optional(printable(200)),
  auto_approve: v.optional(v.boolean('must be true or false')),
});
export type CreatePairingCodeRequest = v.InferOutput<typeof CreatePairingCodeRequest>;

/**
 * Issue 22 (an optional addition): for an enrollment pending confirmation (an
 * identity collision), `replace` (the default, v1's behaviour) gives the
 * colliding agent the new key; `separate` enrolls the machine as a new agent
 * beside it (template-cloned VMs sharing a hardware UUID).
 */
export const IDENTITY_CHOICES = ['replace', 'separate'] as const;
export type IdentityChoice = (typeof IDENTITY_CHOICES)[number];
export const ApproveRequest = strict({
  notes: v.optional(printable(500)),
  identity: v.optional(v.picklist(IDENTITY_CHOICES, 'must be "replace" or "separate"')),
});
export const RejectRequest = strict({ reason: printable(500, 1) });
export const RevokeAgentRequest = strict({ reason: v.optional(printable(500)) });

export const CreateOperatorRequest = strict({
  name: OperatorName,
  role: v.picklist(OPERATOR_ROLES, `must be one of ${OPERATOR_ROLES.map((r) => `"${r}"`).join(', ')}`),
  /** Issue 22: scope the operator to one tenant; absent: global (a scoped admin's operators are always its tenant's). */
  tenant_code: v.optional(TenantCode),
});
/**
 * A console password: 12-256 characters, no control characters (so it survives
 * a terminal and a form alike). Length, not composition rules (NIST SP 800-63B).
 */
export const OperatorPassword = v.pipe(
  v.string('must be a string'),
  v.minLength(12, 'must be at least 12 characters'),
  v.maxLength(256, 'must be at most 256 characters'),
  v.check((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters'),
);
export const SetPasswordRequest = strict({ password: OperatorPassword });
export const ClearLockoutRequest = strict({ key: printable(200, 1) });

/** `POST /api/v1/admin/audit/prune` (#8.1): rows older than `before` leave. */
export const PruneAuditRequest = strict({ before: Instant });

/** POST /api/v1/admin/tunnel/host-keys/retire: which host key leaves known_hosts for good. */
export const RetireHostKeyRequest = strict({ fingerprint: KeyFingerprint });

/**
 * A webhook receiver's URL: http or https, at most 2000 characters, no
 * user:password part (the URL is listed; a credential in it would not stay
 * secret). Where it may point is checked by the api (link-local and
 * metadata addresses refused, apps/api/src/webhooks/ssrf.ts).
 */
export const WebhookUrl = v.pipe(
  v.string('must be a string'),
  v.maxLength(2000, 'must be at most 2000 characters'),
  v.check((s) => {
    if (!URL.canParse(s)) return false;
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.hostname !== '';
  }, 'must be an http:// or https:// URL without a user:password part'),
);

export const CreateWebhookRequest = strict({
  url: WebhookUrl,
  events: v.pipe(
    v.array(v.picklist(['*', ...WEBHOOK_EVENT_TYPES], 'must be event types from the contract, or "*"'), 'must be a list of event types'),
    v.minLength(1, 'must name at least one event type (or "*")'),
    v.maxLength(WEBHOOK_EVENT_TYPES.length + 1, 'has too many entries'),
  ),
  site_code: v.optional(SiteCode),
  format: v.optional(v.picklist(WEBHOOK_FORMATS, 'must be "standard" or "slack"'), 'standard'),
  description: v.optional(printable(200)),
});
export type CreateWebhookRequest = v.InferOutput<typeof CreateWebhookRequest>;
