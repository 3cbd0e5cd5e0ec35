/**
 * Request bodies of the public enrollment routes (`POST /api/v1/enroll`,
 * `POST /api/v1/enroll/verify`) and the fields only they carry. Objects are
 * strict (unknown fields are refused), strings are bounded before any regex
 * runs, and text that reaches logs or tables is printable ASCII only, so
 * control characters, NULs and unicode look-alikes never get in.
 */
import * as v from 'valibot';
import { ENROLLMENT_KEY_PATTERN, Hostname, printable, SiteCode, strict, Uuid } from '../formats.ts';

/** Shape only: 12 symbols once spaces and hyphens are dropped; the alphabet is checked by normalisation. */
export const PairingCodeInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(32, 'is not a pairing code'),
  v.regex(/^[0-9A-Za-z -]+$/, 'is not a pairing code'),
);

export const EnrollmentKeyInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(64, 'is not an enrollment key'),
  v.regex(ENROLLMENT_KEY_PATTERN, 'is not an enrollment key'),
);

export const PublicKeyInput = v.pipe(
  v.string('must be a string'),
  v.maxLength(400, 'is too long'),
  v.regex(/^[\x20-\x7e]*$/, 'must be printable ASCII on one line'),
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

/** An SSHSIG armoured signature, bounded. */
export const SignatureInput = v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(4096, 'is too long'));

export const EnrollRequest = v.pipe(
  strict({
    site_code: SiteCode,
    pairing_code: v.optional(PairingCodeInput),
    enrollment_key: v.optional(EnrollmentKeyInput),
    public_key: PublicKeyInput,
    hostname: Hostname,
    agent_version: v.optional(AgentVersion),
    machine_uid: v.optional(MachineUid),
    labels: v.optional(Labels),
    csr: v.optional(CsrInput),
  }),
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

export const VerifyRequest = strict({
  enrollment_id: Uuid,
  signature: SignatureInput,
  /**
   * Optional addition (#8.2): when the machine already has an active agent
   * with another key, the CURRENT key's signature over
   * `airlock-rekey-v1\n{enrollment_id}\n{challenge}\n{new_fingerprint}`
   * (see @airlock/crypto rekey.ts). Without it a key change waits for an operator.
   */
  rekey_signature: v.optional(SignatureInput),
});
export type VerifyRequest = v.InferOutput<typeof VerifyRequest>;
