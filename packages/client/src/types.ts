/** Response bodies of the admin and internal routes, as the api answers them. */
import type { AgentKeyVerifyResponse, EnrollmentStatus, OperatorRole } from '@airlock/schema';

export type { AgentKeyVerifyResponse, OperatorRole };

export interface Page<T> {
  items: T[];
  /** Lists that page: where the next page starts, or null at the end. */
  next_cursor?: string | null;
}

export interface Site {
  site_code: string;
  name: string;
  policy: 'manual' | 'auto';
  created_at: string;
  created_by: string;
}

export interface RotatedEnrollmentKey {
  /** `cek_…`: shown only in this answer. */
  key: string;
  version: number;
  fingerprint: string;
  expires_at?: string | null;
  max_uses?: number | null;
}

export interface EnrollmentKeyDescription {
  version: number;
  fingerprint: string;
  created_at?: string;
  created_by?: string;
  last_used_at?: string | null;
  use_count?: number;
  expires_at?: string | null;
  max_uses?: number | null;
  /** Issue 18: `max_uses - use_count`; null without a limit. */
  uses_left?: number | null;
}

export interface CreatedPairingCode {
  id: string;
  /** `XXXX-XXXX-XXXX`: shown only in this answer. */
  code: string;
  site_code: string;
  expires_at: string;
  auto_approve?: boolean;
  note?: string | null;
}

export interface PairingCode {
  id: string;
  site_code: string;
  status: 'active' | 'used' | 'expired' | 'revoked';
  note: string | null;
  auto_approve: boolean;
  created_by: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface Enrollment {
  id: string;
  site_code: string;
  method: 'pairing_code' | 'enrollment_key';
  hostname: string;
  agent_version: string | null;
  fingerprint: string;
  source_ip: string | null;
  status: EnrollmentStatus;
  created_at: string;
  /** #8.2: the active agent an approval would re-key, its current fingerprint, and whether the old key signed the change. */
  replaces_agent_id?: string | null;
  replaces_fingerprint?: string | null;
  rekey_signed?: boolean;
  /** Issue 18: the key is this revoked agent's (and no active agent's); it was held for an operator whatever the policy. */
  revoked_key_agent_id?: string | null;
}

export interface Decision {
  id: string;
  status: EnrollmentStatus;
}

export interface Agent {
  id: string;
  site_code: string;
  hostname: string;
  fingerprint: string;
  machine_uid: string | null;
  status: string;
  created_at: string;
  last_seen_at: string | null;
}

/** The revoke answer: the agent, and (issue 18) whether its site's enrollment key should be rotated (an `auto` site). */
export interface RevokedAgent extends Agent {
  rotate_site_key_advised?: boolean;
}

export interface AuditEvent {
  id: string;
  occurred_at: string;
  event_type: string;
  actor: string;
  site_code: string | null;
  enrollment_id: string | null;
  agent_id: string | null;
  source_ip: string | null;
  user_agent?: string | null;
  details: unknown;
}

export interface AuditPage extends Page<AuditEvent> {
  next_cursor: string | null;
}


export interface Operator {
  id: string;
  name: string;
  role: OperatorRole;
  created_at: string;
  disabled_at: string | null;
}

export interface CreatedOperator {
  id: string;
  name: string;
  role: OperatorRole;
  /** `aop_…`: shown only in this answer. */
  token: string;
}

export interface Lockout {
  key: string;
  kind: string;
  site_code: string | null;
  ip: string | null;
  retry_after_seconds: number;
}
