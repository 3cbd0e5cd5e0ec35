/**
 * Request bodies of the internal routes: the management server (role
 * service) and the SSH tunnel endpoint (role tunnel, `/api/v1/internal/tunnel/*`).
 */
import * as v from 'valibot';
import { HostPublicKeyLine, Instant, IpAddressText, KeyFingerprint, Rfc3339, strict, Uuid } from '../formats.ts';
import { LOCKOUT_KINDS, TUNNEL_EVENTS } from '../vocabulary.ts';

export const AgentKeyVerifyRequest = strict({
  agent_key: v.pipe(v.string('must be a string'), v.maxLength(100, 'is not an agent key')),
});

export const CertificateVerifyRequest = strict({
  certificate: v.pipe(v.string('must be a string'), v.maxLength(8192, 'is too long')),
});

/** Base64 of an SSH public key blob, as sshd passes %k. Bounded: RSA-16384 fits. */
const KeyBlob = v.pipe(v.string('must be a string'), v.maxLength(4096, 'is too long'), v.regex(/^[A-Za-z0-9+/]+={0,2}$/, 'is not base64'));
const KeyType = v.pipe(v.string('must be a string'), v.maxLength(64, 'is too long'), v.regex(/^[a-z0-9@.-]+$/, 'is not an SSH key type'));

/** POST /api/v1/internal/tunnel/authorized-keys: the keys helper asks for one offered key. */
export const TunnelAuthorizedKeysRequest = strict({
  fingerprint: KeyFingerprint,
  key_type: v.optional(KeyType),
  key: v.optional(KeyBlob),
});

/** POST /api/v1/internal/tunnel/host-keys: the endpoint says which host keys it presents. */
export const TunnelHostKeysRequest = strict({
  keys: v.pipe(v.array(HostPublicKeyLine, 'must be an array'), v.minLength(1, 'must not be empty'), v.maxLength(8, 'at most 8 keys')),
});

/**
 * POST /api/v1/internal/tunnel/events: one session's life, as the endpoint
 * saw it in the process table (never from sshd's log, which a client can
 * write into).
 */
export const TunnelEventRequest = strict({
  event: v.picklist(TUNNEL_EVENTS, 'must be "opened", "closed" or "denied"'),
  fingerprint: KeyFingerprint,
  agent_id: v.optional(Uuid),
  // An address as the tunnel saw it; sshd prints IPv4 or IPv6 text.
  source_ip: IpAddressText,
  source_port: v.optional(v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(1, 'must be a port'), v.maxValue(65535, 'must be a port'))),
  /** Why a connection closed or was refused, e.g. "revoked", "client_closed". */
  reason: v.optional(v.pipe(v.string('must be a string'), v.maxLength(64, 'is too long'), v.regex(/^[a-z_]+$/, 'must be a-z and _'))),
});

/** How many sessions one report may list (its body is read up to TUNNEL_SESSIONS_MAX_BYTES). */
export const TUNNEL_SESSIONS_MAX = 5000;
export const TUNNEL_SESSIONS_MAX_BYTES = 1024 * 1024;

/**
 * POST /api/v1/internal/tunnel/sessions (issue 21): every session the endpoint
 * holds now, and the lease that keeps them counted; sent on every change and
 * renewed well before the lease runs out. `endpoint` names this endpoint process.
 */
export const TunnelSessionsRequest = strict({
  endpoint: v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_.:@-]{1,128}$/, 'must be 1-128 of A-Z a-z 0-9 _ . : @ -')),
  lease_seconds: v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(5, 'must be 5-600'), v.maxValue(600, 'must be 5-600')),
  sessions: v.pipe(
    v.array(
      strict({
        session: v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9:_-]{1,64}$/, 'is not a session id')),
        agent_id: Uuid,
        source_ip: IpAddressText,
        opened_at: Rfc3339,
      }),
      'must be an array',
    ),
    v.maxLength(TUNNEL_SESSIONS_MAX, `at most ${TUNNEL_SESSIONS_MAX} sessions`),
  ),
});

/** POST /api/v1/internal/tunnel/active-agents: which of these agents may keep their tunnels. */
export const TunnelActiveAgentsRequest = strict({
  agent_ids: v.pipe(v.array(Uuid, 'must be an array'), v.maxLength(400, 'at most 400 ids (16 KiB body)')),
});

/**
 * POST /api/v1/internal/security/lockouts (role edge): a lockout or block an
 * edge just imposed, with Redis or in-process counters alike. `report_id`
 * lets a retried report be recorded once.
 */
export const LockoutReportRequest = strict({
  report_id: Uuid,
  kind: v.picklist(LOCKOUT_KINDS, 'is not a lockout kind'),
  /** The site the enroll named (a lockout only); may name no real site. */
  site_code: v.optional(v.pipe(v.string('must be a string'), v.maxLength(64, 'is too long'))),
  source_ip: v.pipe(v.string('must be a string'), v.maxLength(64, 'is too long')),
  until: Instant,
  failures: v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(0), v.maxValue(1_000_000)),
  /** The edge's counters: shared through Redis, or this edge's memory. */
  counters: v.picklist(['redis', 'memory'], 'must be "redis" or "memory"'),
});
export type LockoutReportRequest = v.InferOutput<typeof LockoutReportRequest>;
