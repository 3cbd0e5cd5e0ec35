/**
 * The closed catalogue of error codes on the wire, with the HTTP status each
 * one always carries. Edge and api both answer with these; nothing else.
 *
 * @example
 *   errorEnvelope('rate_limited', 'Too many requests; retry later')
 *   // => { error: { code: 'rate_limited', message: 'Too many requests; retry later' } }
 */
import * as v from 'valibot';

export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  enrollment_denied: 401,
  signature_invalid: 401,
  invalid_token: 401,
  invalid_key: 401,
  // v1.1: an enrolled agent's proof refused (one body for every cause), and a certificate the verify route refuses.
  agent_denied: 401,
  invalid_certificate: 401,
  forbidden: 403,
  enrollment_rejected: 403,
  not_found: 404,
  method_not_allowed: 405,
  // Issue 18: a Host the api does not answer to (DNS rebinding); refused before routing.
  misdirected_request: 421,
  site_conflict: 409,
  invalid_state: 409,
  conflict: 409,
  expired_token: 410,
  credentials_already_issued: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  slow_down: 429,
  internal_error: 500,
  bad_gateway: 502,
  service_unavailable: 503,
  gateway_timeout: 504,
  request_timeout: 408,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/** Every refusal's body, from the edge and the api alike. */
export const ErrorEnvelope = v.strictObject({
  error: v.strictObject({
    code: v.picklist(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
    message: v.string(),
    /** Only on 400: field name -> problem. Never echoes the offending value. */
    fields: v.optional(v.record(v.string(), v.string())),
  }),
});
export type ErrorEnvelope = v.InferOutput<typeof ErrorEnvelope>;

export const errorEnvelope = (
  code: ErrorCode,
  message: string,
  fields?: Record<string, string>,
): ErrorEnvelope => ({
  error: fields ? { code, message, fields } : { code, message },
});

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);

/**
 * Turns valibot issues into the envelope's `fields` map: one problem per
 * field, never the offending value (it may be a secret).
 */
export const issuesToFields = (issues: readonly v.BaseIssue<unknown>[]): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const path = issue.path?.map((p) => String(p.key)).join('.') || '_body';
    if (!Object.hasOwn(fields, path)) fields[path] = issue.message;
  }
  return fields;
};
