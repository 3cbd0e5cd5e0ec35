/**
 * Answers of the admin routes: what operators, the CLI and the console's
 * tooling read. Types are inferred from these schemas (`@airlock/client`
 * re-exports them); nothing restates a field.
 */
import * as v from 'valibot';
import { EnrollmentKey, KeyFingerprint, OperatorToken, PairingCodeShown, Rfc3339, SiteCodeStored, TenantCodeStored, Uuid, WebhookSecretShown } from '../formats.ts';
import {
  AGENT_STATUSES,
  ENROLLMENT_METHODS,
  ENROLLMENT_STATUSES,
  LOCKOUT_KINDS,
  OPERATOR_ROLES,
  PAIRING_CODE_STATUSES,
  SITE_POLICIES,
  WEBHOOK_DELIVERY_STATES,
  WEBHOOK_FORMATS,
} from '../vocabulary.ts';

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
/** `{items}`: a whole list. */
const listOf = <T extends v.GenericSchema>(item: T) => v.object({ items: v.array(item) });
/** `{items, next_cursor}`: one page; next_cursor continues it, null at the end. */
const pageOf = <T extends v.GenericSchema>(item: T) => v.object({ items: v.array(item), next_cursor: v.nullable(v.string()) });

// ---- sites and enrollment keys ----------------------------------------------------

export const Site = v.object({
  site_code: SiteCodeStored,
  name: v.string(),
  policy: v.picklist(SITE_POLICIES),
  created_at: Rfc3339,
  created_by: v.string(),
  tenant_code: TenantCodeStored,
  /** Enroll accepted only from these; empty: any source. */
  allowed_cidrs: v.array(v.string()),
});
export type Site = v.InferOutput<typeof Site>;
export const SiteList = pageOf(Site);

// ---- tenants (issue 22) ----------------------------------------------------------------

export const Tenant = v.object({ tenant_code: TenantCodeStored, name: v.string(), created_at: Rfc3339, created_by: v.string() });
export type Tenant = v.InferOutput<typeof Tenant>;
export const TenantList = listOf(Tenant);

/** 201 of a rotation: the `cek_` key is shown only here. */
export const RotatedEnrollmentKey = v.object({
  key: EnrollmentKey,
  version: count,
  /** `v3 (9F2A)`: the version and the start of the key's digest. */
  fingerprint: v.string(),
  expires_at: v.nullable(Rfc3339),
  max_uses: v.nullable(count),
});
export type RotatedEnrollmentKey = v.InferOutput<typeof RotatedEnrollmentKey>;

/** A site's active enrollment key, never the key. */
export const EnrollmentKeyDescription = v.object({
  version: count,
  fingerprint: v.string(),
  created_at: Rfc3339,
  created_by: v.string(),
  last_used_at: v.nullable(Rfc3339),
  use_count: count,
  expires_at: v.nullable(Rfc3339),
  max_uses: v.nullable(count),
  /** Issue 18: `max_uses - use_count`; null without a limit. */
  uses_left: v.nullable(count),
});
export type EnrollmentKeyDescription = v.InferOutput<typeof EnrollmentKeyDescription>;

// ---- pairing codes ------------------------------------------------------------------

/** 201 of a pairing code: the code (`XXXX-XXXX-XXXX`) is shown only here. */
export const CreatedPairingCode = v.object({
  id: Uuid,
  code: PairingCodeShown,
  site_code: SiteCodeStored,
  expires_at: Rfc3339,
  auto_approve: v.boolean(),
  note: v.nullable(v.string()),
});
export type CreatedPairingCode = v.InferOutput<typeof CreatedPairingCode>;

export const PairingCode = v.object({
  id: Uuid,
  site_code: SiteCodeStored,
  status: v.picklist(PAIRING_CODE_STATUSES),
  note: v.nullable(v.string()),
  auto_approve: v.boolean(),
  created_by: v.string(),
  created_at: Rfc3339,
  expires_at: Rfc3339,
  used_at: v.nullable(Rfc3339),
  used_by_enrollment: v.nullable(Uuid),
  revoked_at: v.nullable(Rfc3339),
});
export type PairingCode = v.InferOutput<typeof PairingCode>;
export const PairingCodeList = pageOf(PairingCode);

// ---- enrollments ---------------------------------------------------------------------

export const Enrollment = v.object({
  id: Uuid,
  site_code: SiteCodeStored,
  method: v.picklist(ENROLLMENT_METHODS),
  hostname: v.string(),
  agent_version: v.nullable(v.string()),
  fingerprint: KeyFingerprint,
  machine_uid: v.nullable(v.string()),
  labels: v.record(v.string(), v.string()),
  source_ip: v.nullable(v.string()),
  status: v.picklist(ENROLLMENT_STATUSES),
  agent_id: v.nullable(Uuid),
  /** The agent this enrollment would take over (same machine); for pending_confirmation, the one it collides with. */
  existing_agent_id: v.nullable(Uuid),
  /** #8.2: the active agent an approval would re-key, its current fingerprint, and whether the old key signed the change. */
  replaces_agent_id: v.nullable(Uuid),
  replaces_fingerprint: v.nullable(KeyFingerprint),
  rekey_signed: v.boolean(),
  /** Issue 18: the key is this revoked agent's (and no active agent's); it was held for an operator whatever the policy. */
  revoked_key_agent_id: v.nullable(Uuid),
  created_at: Rfc3339,
  decided_by: v.nullable(v.string()),
  decided_at: v.nullable(Rfc3339),
});
export type Enrollment = v.InferOutput<typeof Enrollment>;
export const EnrollmentPage = pageOf(Enrollment);

/** The answer to approve and reject. */
export const Decision = v.object({ id: Uuid, status: v.picklist(['approved', 'rejected']) });
export type Decision = v.InferOutput<typeof Decision>;

// ---- agents -----------------------------------------------------------------------------

/** Contract v1.2: the agent's live tunnel state (null fields: it never connected; no reverse port). */
export const AgentTunnel = v.object({
  connected: v.boolean(),
  since: v.nullable(Rfc3339),
  source_ip: v.nullable(v.string()),
  remote_port: v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))),
});
export type AgentTunnel = v.InferOutput<typeof AgentTunnel>;

export const Agent = v.object({
  id: Uuid,
  site_code: SiteCodeStored,
  hostname: v.string(),
  fingerprint: KeyFingerprint,
  machine_uid: v.nullable(v.string()),
  status: v.picklist(AGENT_STATUSES),
  created_at: Rfc3339,
  last_seen_at: v.nullable(Rfc3339),
  revoked_at: v.nullable(Rfc3339),
  /** Issue 22: kept from the enrollment, editable with PATCH. */
  labels: v.record(v.string(), v.string()),
  tenant_code: TenantCodeStored,
  /** The operator's name, or `policy` for an automatic approval; null for rows older than the record. */
  approved_by: v.nullable(v.string()),
  approved_at: v.nullable(Rfc3339),
  tunnel: AgentTunnel,
});
export type Agent = v.InferOutput<typeof Agent>;
export const AgentList = pageOf(Agent);

/** The revoke answer: the agent, and (issue 18) whether its site's enrollment key should be rotated (an `auto` site). */
export const RevokedAgent = v.object({ ...Agent.entries, rotate_site_key_advised: v.boolean() });
export type RevokedAgent = v.InferOutput<typeof RevokedAgent>;

// ---- audit --------------------------------------------------------------------------------

export const AuditEvent = v.object({
  id: Uuid,
  occurred_at: Rfc3339,
  event_type: v.string(),
  actor: v.string(),
  site_code: v.nullable(v.string()),
  enrollment_id: v.nullable(Uuid),
  agent_id: v.nullable(Uuid),
  source_ip: v.nullable(v.string()),
  user_agent: v.nullable(v.string()),
  /** Event-specific; never a secret. */
  details: v.record(v.string(), v.unknown()),
});
export type AuditEvent = v.InferOutput<typeof AuditEvent>;
export const AuditPage = pageOf(AuditEvent);
export type AuditPage = v.InferOutput<typeof AuditPage>;

/** Counted refusals from strangers, one row per (source IP, kind, minute). */
export const RefusalCount = v.object({
  source_ip: v.string(),
  kind: v.string(),
  minute: Rfc3339,
  count: count,
  last_at: Rfc3339,
});
export type RefusalCount = v.InferOutput<typeof RefusalCount>;
export const RefusalPage = pageOf(RefusalCount);

export const PruneResult = v.object({ before: Rfc3339, events_deleted: count, refusal_counts_deleted: count });

// ---- operators and lockouts -------------------------------------------------------------------

export const Operator = v.object({
  id: Uuid,
  name: v.string(),
  role: v.picklist(OPERATOR_ROLES),
  /** null: global. */
  tenant_code: v.nullable(TenantCodeStored),
  created_at: Rfc3339,
  disabled_at: v.nullable(Rfc3339),
});
export type Operator = v.InferOutput<typeof Operator>;
export const OperatorList = listOf(Operator);

/** 201 of a new operator: the `aop_` token is shown only here. */
export const CreatedOperator = v.object({
  id: Uuid,
  name: v.string(),
  role: v.picklist(OPERATOR_ROLES),
  tenant_code: v.nullable(TenantCodeStored),
  token: OperatorToken,
});
export type CreatedOperator = v.InferOutput<typeof CreatedOperator>;

const OperatorRef = { name: v.string(), role: v.picklist(OPERATOR_ROLES) };
export const DisabledOperator = v.object({ ...OperatorRef, disabled_at: Rfc3339 });
export const ClearedSignInFailures = v.object({ ...OperatorRef, cleared_at: Rfc3339 });
export const PasswordSet = v.object(OperatorRef);

export const Lockout = v.object({
  /** The full Redis key: what clearing takes. */
  key: v.string(),
  kind: v.picklist(LOCKOUT_KINDS),
  site_code: v.nullable(v.string()),
  ip: v.string(),
  retry_after_seconds: count,
});
export type Lockout = v.InferOutput<typeof Lockout>;
export const LockoutList = listOf(Lockout);
export const ClearedLockout = v.object({ key: v.string(), cleared: v.boolean() });

// ---- alerts: webhooks ---------------------------------------------------------------

/** A webhook as listed: never its secret. */
export const Webhook = v.object({
  id: Uuid,
  url: v.string(),
  events: v.array(v.string()),
  site_code: v.nullable(v.string()),
  /** null: global. */
  tenant_code: v.nullable(v.string()),
  format: v.picklist(WEBHOOK_FORMATS),
  description: v.nullable(v.string()),
  created_at: Rfc3339,
  created_by: v.string(),
  /** Set when it failed for 5 days (or more, see AIRLOCK_WEBHOOK_DISABLE_AFTER_SECONDS): it receives nothing. */
  disabled_at: v.nullable(Rfc3339),
  failing_since: v.nullable(Rfc3339),
  /** While a rotated-out secret still signs, when it stops. */
  previous_secret_expires_at: v.nullable(Rfc3339),
});
export type Webhook = v.InferOutput<typeof Webhook>;
export const WebhookList = listOf(Webhook);

/** 201 of a new webhook: the `whsec_` secret is shown only here. */
export const CreatedWebhook = v.object({
  id: Uuid,
  url: v.string(),
  events: v.array(v.string()),
  site_code: v.nullable(v.string()),
  format: v.picklist(WEBHOOK_FORMATS),
  secret: WebhookSecretShown,
  created_at: Rfc3339,
});
export type CreatedWebhook = v.InferOutput<typeof CreatedWebhook>;
export const RotatedWebhookSecret = v.object({ secret: WebhookSecretShown });
export const WebhookTestSent = v.object({ event_id: Uuid });

export const WebhookDelivery = v.object({
  event_id: Uuid,
  event_type: v.string(),
  /** Attempts made so far (0: not tried yet). */
  attempt: count,
  state: v.picklist(WEBHOOK_DELIVERY_STATES),
  status_code: v.nullable(v.pipe(v.number(), v.integer())),
  error: v.nullable(v.string()),
  duration_ms: v.nullable(count),
  attempted_at: v.nullable(Rfc3339),
  /** null unless retrying. */
  next_attempt_at: v.nullable(Rfc3339),
});
export type WebhookDelivery = v.InferOutput<typeof WebhookDelivery>;
export const WebhookDeliveryPage = pageOf(WebhookDelivery);
