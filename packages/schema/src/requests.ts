/**
 * Valibot schemas for every request body of the contract. Objects are strict
 * (unknown fields are refused), strings are bounded before any regex runs, and
 * text that reaches logs or tables is printable ASCII only, so control
 * characters, NULs and unicode look-alikes never get in.
 */
import * as v from 'valibot';
import { OPERATOR_ROLES } from './tables.ts';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// One message for both ways a strict object can fail: not an object, or a key it does not know.
const strictMessage = (issue: v.BaseIssue<unknown>) =>
  issue.expected === 'never' ? 'unknown field' : issue.path?.length ? 'is required' : 'must be a JSON object';
const strict = <T extends v.ObjectEntries>(entries: T) => v.strictObject(entries, strictMessage);

const printable = (max: number, min = 0) =>
  v.pipe(
    v.string('must be a string'),
    v.minLength(min, min === 1 ? 'must not be empty' : `must be at least ${min} characters`),
    v.maxLength(max, `must be at most ${max} characters`),
    v.regex(PRINTABLE_ASCII, 'must be printable ASCII'),
  );

/** A site_code as stored (upper-case); the one definition edge, api and agent share. */
export const SITE_CODE_PATTERN = /^[A-Z0-9][A-Z0-9-]{1,31}$/;
// Input is case-insensitive. Without the `u` flag, /i never folds a non-ASCII
// letter into an ASCII one (dotless ı stays ı), so look-alikes cannot pass;
// upper-casing first would have turned ı into I.
const SITE_CODE_INPUT = new RegExp(SITE_CODE_PATTERN.source, 'i');

/**
 * The stored form of a site_code typed in any case, or null.
 *
 * @example
 *   normalizeSiteCode('acme-phx'); // 'ACME-PHX'
 *   normalizeSiteCode('acme-phıx'); // null (dotless i)
 */
export const normalizeSiteCode = (raw: string): string | null => (SITE_CODE_INPUT.test(raw) ? raw.toUpperCase() : null);

export const SiteCode = v.pipe(
  v.string('must be a string'),
  v.maxLength(32, 'must be at most 32 characters'),
  v.regex(SITE_CODE_INPUT, 'must be 2-32 characters of A-Z 0-9 -, starting with a letter or digit'),
  v.toUpperCase(),
);

/** Shape only: 12 symbols once spaces and hyphens are dropped; the alphabet is checked by normalisation. */
export const PairingCodeInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(32, 'is not a pairing code'),
  v.regex(/^[0-9A-Za-z -]+$/, 'is not a pairing code'),
);

export const ENROLLMENT_KEY_PATTERN = /^cek_[A-Za-z0-9_-]{43}$/;
export const EnrollmentKeyInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(64, 'is not an enrollment key'),
  v.regex(ENROLLMENT_KEY_PATTERN, 'is not an enrollment key'),
);

export const PublicKeyInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(400, 'is too long'),
  v.regex(PRINTABLE_ASCII, 'must be printable ASCII on one line'),
);

/** One label of an RFC 1123 host name (letters, digits, inner hyphens; 1-63). */
export const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
export const Hostname = v.pipe(
  v.string('must be a string'),
  v.minLength(1, 'must not be empty'),
  v.maxLength(253, 'must be at most 253 characters'),
  v.check(
    (s) => s.split('.').every((label) => HOST_LABEL.test(label)),
    'must be an RFC 1123 host name',
  ),
  v.toLowerCase(),
);

export const AgentVersion = v.pipe(
  v.string('must be a string'),
  v.maxLength(64, 'must be at most 64 characters'),
  v.regex(
    /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/,
    'must be a semantic version',
  ),
);

export const MachineUid = v.pipe(
  v.string('must be a string'),
  v.maxLength(128, 'must be 8-128 characters of A-Za-z0-9._:-'),
  v.regex(/^[A-Za-z0-9._:-]{8,128}$/, 'must be 8-128 characters of A-Za-z0-9._:-'),
);

const LABEL_KEY = /^[a-z0-9_.-]{1,32}$/;
// JSON.parse makes "__proto__" an own key; keep such names out of every object we build.
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const Labels = v.pipe(
  // valibot's record drops "__proto__" keys silently; refuse them loudly instead.
  v.custom<Record<string, unknown>>(
    (o) => typeof o === 'object' && o !== null && !Array.isArray(o) && !Object.keys(o).some((k) => RESERVED_KEYS.has(k)),
    'must be an object of string labels (reserved keys are refused)',
  ),
  v.record(
    v.pipe(v.string(), v.regex(LABEL_KEY, 'label keys must be 1-32 characters of a-z 0-9 _ . -')),
    printable(128),
    'must be an object of string labels',
  ),
  v.check((o) => Object.keys(o).length <= 16, 'at most 16 labels'),
);

/**
 * v1.1: a PEM PKCS#10 request (a few hundred bytes for Ed25519). Only the
 * shape is bounded here; what it asks for is judged by packages/crypto.
 */
export const CsrInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(4096, 'must be at most 4096 characters'),
  v.regex(/^[\x20-\x7e\r\n]*$/, 'must be a PEM certificate request'),
);

/** `ssh-keygen -lf` form: SHA256: + 43 characters of unpadded base64. */
export const KeyFingerprint = v.pipe(
  v.string('must be a string'),
  v.maxLength(64, 'must be a SHA256: key fingerprint'),
  v.regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must be a SHA256: key fingerprint'),
);

export const EnrollRequest = v.pipe(
  strict(
    {
      site_code: SiteCode,
      pairing_code: v.optional(PairingCodeInput),
      enrollment_key: v.optional(EnrollmentKeyInput),
      public_key: PublicKeyInput,
      hostname: Hostname,
      agent_version: v.optional(AgentVersion),
      machine_uid: v.optional(MachineUid),
      labels: v.optional(Labels),
      csr: v.optional(CsrInput),
    },
  ),
  v.forward(
    v.check(
      (b) => (b.pairing_code === undefined) !== (b.enrollment_key === undefined),
      'exactly one of pairing_code and enrollment_key is required',
    ),
    ['pairing_code'],
  ),
  v.forward(
    v.check(
      (b) => b.enrollment_key === undefined || b.machine_uid !== undefined,
      'is required with enrollment_key',
    ),
    ['machine_uid'],
  ),
);
export type EnrollRequest = v.InferOutput<typeof EnrollRequest>;

export const Uuid = v.pipe(v.string('must be a string'), v.maxLength(36, 'must be a UUID'), v.uuid('must be a UUID'));

export const VerifyRequest = strict({
  enrollment_id: Uuid,
  signature: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(4096, 'is too long')),
  /**
   * Optional addition (#8.2): when the machine already has an active agent
   * with another key, the CURRENT key's signature over
   * `airlock-rekey-v1\n{enrollment_id}\n{challenge}\n{new_fingerprint}`
   * (see @airlock/crypto rekey.ts). Without it a key change waits for an operator.
   */
  rekey_signature: v.optional(
    v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(4096, 'is too long')),
  ),
});
export type VerifyRequest = v.InferOutput<typeof VerifyRequest>;

export const AgentChallengeRequest = strict({ fingerprint: KeyFingerprint });
export type AgentChallengeRequest = v.InferOutput<typeof AgentChallengeRequest>;

export const AgentCredentialsRequest = strict({
  fingerprint: KeyFingerprint,
  challenge_id: Uuid,
  signature: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(4096, 'is too long')),
  csr: v.optional(CsrInput),
  rotate_agent_key: v.optional(v.boolean('must be true or false')),
});
export type AgentCredentialsRequest = v.InferOutput<typeof AgentCredentialsRequest>;

export const CertificateVerifyRequest = strict({
  certificate: v.pipe(v.string('must be a string'), v.maxLength(8192, 'is too long')),
});

export const CreateSiteRequest = strict({
  site_code: SiteCode,
  name: printable(100, 1),
  policy: v.optional(v.picklist(['manual', 'auto'], 'must be "manual" or "auto"'), 'manual'),
});
export type CreateSiteRequest = v.InferOutput<typeof CreateSiteRequest>;

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

export const ApproveRequest = strict({ notes: v.optional(printable(500)) });
export const RejectRequest = strict({ reason: printable(500, 1) });
export const RevokeAgentRequest = strict({ reason: v.optional(printable(500)) });
export const AgentKeyVerifyRequest = strict({
  agent_key: v.pipe(v.string('must be a string'), v.maxLength(100, 'is not an agent key')),
});
export const OperatorName = v.pipe(
  v.string('must be a string'),
  v.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z 0-9 . _ -'),
);
export const CreateOperatorRequest = strict({
  name: OperatorName,
  role: v.picklist(OPERATOR_ROLES, `must be one of ${OPERATOR_ROLES.map((r) => `"${r}"`).join(', ')}`),
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

/** An RFC 3339 time or a bare date (UTC midnight), as a Date. */
export const Instant = v.pipe(
  v.string('must be a string'),
  v.maxLength(40, 'must be an RFC 3339 time or a date'),
  v.regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/, 'must be an RFC 3339 time or a date'),
  v.transform((s) => new Date(s)),
  v.check((d) => !Number.isNaN(d.getTime()), 'must be an RFC 3339 time or a date'),
);

/** `POST /api/v1/admin/audit/prune` (#8.1): rows older than `before` leave. */
export const PruneAuditRequest = strict({ before: Instant });

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
