/**
 * Request and response bodies of the tunnel endpoint's internal routes
 * (`/api/v1/internal/tunnel/*`, roles tunnel and admin) and of the admin
 * routes over the endpoint's host keys. Strict like every
 * other body: unknown fields are refused, strings bounded before any regex.
 */
import * as v from 'valibot';

const strictMessage = (issue: v.BaseIssue<unknown>) =>
  issue.expected === 'never' ? 'unknown field' : issue.path?.length ? 'is required' : 'must be a JSON object';
const strict = <T extends v.ObjectEntries>(entries: T) => v.strictObject(entries, strictMessage);

/** `SHA256:` + 43 chars of unpadded base64: exactly what sshd passes as %f. */
export const SSH_FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;
export const SshFingerprint = v.pipe(
  v.string('must be a string'),
  v.maxLength(50, 'is not a SHA256 key fingerprint'),
  v.regex(SSH_FINGERPRINT_PATTERN, 'is not a SHA256 key fingerprint'),
);

/** Base64 of an SSH public key blob, as sshd passes %k. Bounded: RSA-16384 fits. */
const KeyBlob = v.pipe(v.string('must be a string'), v.maxLength(4096, 'is too long'), v.regex(/^[A-Za-z0-9+/]+={0,2}$/, 'is not base64'));
const KeyType = v.pipe(v.string('must be a string'), v.maxLength(64, 'is too long'), v.regex(/^[a-z0-9@.-]+$/, 'is not an SSH key type'));

const TUNNEL_UUID = v.pipe(v.string('must be a string'), v.maxLength(36, 'must be a UUID'), v.uuid('must be a UUID'));
// An address as the tunnel saw it; sshd prints IPv4 or IPv6 text.
const SourceIp = v.pipe(v.string('must be a string'), v.maxLength(45, 'is not an IP address'), v.regex(/^[0-9A-Fa-f:.]{2,45}$/, 'is not an IP address'));

/** POST /api/v1/internal/tunnel/authorized-keys: the keys helper asks for one offered key. */
export const TunnelAuthorizedKeysRequest = strict({
  fingerprint: SshFingerprint,
  key_type: v.optional(KeyType),
  key: v.optional(KeyBlob),
});
export interface TunnelAuthorizedKey {
  agent_id: string;
  site_code: string;
  /** `ssh-ed25519 AAAA…` without comment. */
  public_key: string;
}
/** An agent that holds the offered key but is not active (revoked, pending): its key is refused. */
export interface TunnelInactiveKeyHolder {
  agent_id: string;
  site_code: string;
  status: string;
}
export interface TunnelAuthorizedKeysResponse {
  keys: TunnelAuthorizedKey[];
  permit_open: string[];
  /**
   * Issue 18 (optional, added): agents holding exactly that key that are not
   * active. Lets the endpoint audit a known agent's refused key (bounded)
   * while only counting strangers' keys.
   */
  inactive?: TunnelInactiveKeyHolder[];
}

/** An OpenSSH public host key line, `type base64` (comment dropped by the tunnel). */
export const HostPublicKeyLine = v.pipe(
  v.string('must be a string'),
  v.maxLength(4200, 'is too long'),
  v.regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/, 'must be "TYPE BASE64" of an SSH host key'),
);

/** POST /api/v1/internal/tunnel/host-keys: the endpoint says which host keys it presents. */
export const TunnelHostKeysRequest = strict({
  keys: v.pipe(v.array(HostPublicKeyLine, 'must be an array'), v.minLength(1, 'must not be empty'), v.maxLength(8, 'at most 8 keys')),
});

export const TUNNEL_EVENTS = ['opened', 'closed', 'denied'] as const;
/**
 * POST /api/v1/internal/tunnel/events: one session's life, as the endpoint
 * saw it in the process table (never from sshd's log, which a client can
 * write into).
 */
export const TunnelEventRequest = strict({
  event: v.picklist(TUNNEL_EVENTS, 'must be "opened", "closed" or "denied"'),
  fingerprint: SshFingerprint,
  agent_id: v.optional(TUNNEL_UUID),
  source_ip: SourceIp,
  source_port: v.optional(v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(1, 'must be a port'), v.maxValue(65535, 'must be a port'))),
  /** Why a connection closed or was refused, e.g. "revoked", "client_closed". */
  reason: v.optional(v.pipe(v.string('must be a string'), v.maxLength(64, 'is too long'), v.regex(/^[a-z_]+$/, 'must be a-z and _'))),
});

/** POST /api/v1/internal/tunnel/active-agents: which of these agents may keep their tunnels. */
export const TunnelActiveAgentsRequest = strict({
  agent_ids: v.pipe(v.array(TUNNEL_UUID, 'must be an array'), v.maxLength(400, 'at most 400 ids (16 KiB body)')),
});
export interface TunnelActiveAgentsResponse {
  active: string[];
}

/** `credentials.ssh` in the approved status answer (contract v1.1). */
export interface SshCredentials {
  host: string;
  port: number;
  user: string;
  known_hosts: string;
  permit_open: string[];
}

/** POST /api/v1/admin/tunnel/host-keys/retire: which host key leaves known_hosts for good. */
export const RetireHostKeyRequest = strict({
  fingerprint: SshFingerprint,
});

/** One row of GET /api/v1/admin/tunnel/host-keys. */
export interface TunnelHostKeyItem {
  fingerprint: string;
  /** `type base64`. */
  public_key: string;
  registered_by: string;
  registered_at: string;
  last_seen_at: string;
  retired_at: string | null;
  retired_by: string | null;
}
