/**
 * Query parameters of the admin lists. Each is a strict object of strings
 * (a query string has nothing else); unknown or repeated parameters are
 * refused like unknown body fields.
 */
import * as v from 'valibot';
import { Instant, IpAddressText, printable, SiteCode, TenantCode, Uuid } from '../formats.ts';
import { AGENT_STATUSES, ENROLLMENT_STATUSES, PAIRING_CODE_STATUSES } from '../vocabulary.ts';

/** `?limit=`: digits only, 1-max, `fallback` when absent. */
const limitParam = (max: number, fallback: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}$/, `must be 1-${max}`),
      v.transform(Number),
      v.minValue(1, `must be 1-${max}`),
      v.maxValue(max, `must be 1-${max}`),
    ),
    fallback,
  );

/** Issue 22: every fleet list pages by keyset cursor, 1-500 a page, 100 by default. */
const page = {
  limit: limitParam(500, '100'),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200, 'is not a cursor from this API'))),
};

/** `key:value`; the key as a label key, the value as a label value. */
const LabelFilter = v.pipe(
  v.string(),
  v.maxLength(161, 'must be key:value'),
  v.regex(/^[a-z0-9_.-]{1,32}:[\x20-\x7e]{0,128}$/, 'must be key:value'),
);

/**
 * Query parameters that may repeat (`label=a:1&label=b:2`); readQuery hands
 * them to the schema as a list, every other parameter stays refused when repeated.
 */
export const REPEATABLE_QUERY_PARAMS = ['label'] as const;

export const AgentListQuery = v.strictObject({
  status: v.optional(v.picklist(AGENT_STATUSES, 'is not an agent status')),
  site_code: v.optional(SiteCode),
  tenant_code: v.optional(TenantCode),
  label: v.optional(v.pipe(v.array(LabelFilter), v.maxLength(16, 'at most 16 label filters'))),
  /** A hostname prefix, or an exact key fingerprint (`SHA256:…`). */
  q: v.optional(printable(128, 1)),
  // Contract v1.2 (issue 21): connected while any tunnel endpoint holds a session of the agent.
  tunnel: v.optional(v.picklist(['connected', 'disconnected'], 'must be connected or disconnected')),
  ...page,
});

export const PairingCodeListQuery = v.strictObject({
  status: v.optional(v.picklist(PAIRING_CODE_STATUSES, 'must be active, used, expired or revoked')),
  site_code: v.optional(SiteCode),
  ...page,
});

export const EnrollmentListQuery = v.strictObject({
  status: v.optional(v.picklist(ENROLLMENT_STATUSES, 'is not an enrollment status')),
  site_code: v.optional(SiteCode),
  tenant_code: v.optional(TenantCode),
  ...page,
});

export const SiteListQuery = v.strictObject({ tenant_code: v.optional(TenantCode), ...page });

export const AuditQuery = v.strictObject({
  event_type: v.optional(v.pipe(v.string(), v.regex(/^[a-z_.]{1,64}$/, 'is not an event type'))),
  site_code: v.optional(SiteCode),
  agent_id: v.optional(Uuid),
  limit: limitParam(200, '50'),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(40, 'is not a cursor from this API'))),
});

export const RefusalQuery = v.strictObject({
  since: v.optional(Instant),
  kind: v.optional(v.pipe(v.string(), v.regex(/^[a-z_.]{1,64}$/, 'is not a refusal kind'))),
  source_ip: v.optional(IpAddressText),
  limit: limitParam(1000, '100'),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200, 'is not a cursor from this API'))),
});

export const WebhookDeliveriesQuery = v.strictObject({
  limit: limitParam(200, '50'),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(40, 'is not a cursor from this API'))),
});
