/**
 * Query parameters of the admin lists. Each is a strict object of strings
 * (a query string has nothing else); unknown or repeated parameters are
 * refused like unknown body fields.
 */
import * as v from 'valibot';
import { Instant, IpAddressText, SiteCode, Uuid } from '../formats.ts';
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

export const AgentListQuery = v.strictObject({
  status: v.optional(v.picklist(AGENT_STATUSES, 'is not an agent status')),
  // Contract v1.2 (issue 21): connected while any tunnel endpoint holds a session of the agent.
  tunnel: v.optional(v.picklist(['connected', 'disconnected'], 'must be connected or disconnected')),
});

export const PairingCodeListQuery = v.strictObject({
  status: v.optional(v.picklist(PAIRING_CODE_STATUSES, 'must be active, used, expired or revoked')),
});

export const EnrollmentListQuery = v.strictObject({
  status: v.optional(v.picklist(ENROLLMENT_STATUSES, 'is not an enrollment status')),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, 'must be 1-500'), v.transform(Number), v.minValue(1, 'must be 1-500'), v.maxValue(500, 'must be 1-500')),
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(100, 'is not a cursor from this API'))),
});

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
