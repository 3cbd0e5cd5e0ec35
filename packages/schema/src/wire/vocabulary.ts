/**
 * The closed word lists of the wire: statuses, roles, methods, kinds. The
 * database tables (`@airlock/schema/db`) store the same words and import them
 * from here, so a status exists once for the wire and the database alike.
 */

export const SITE_POLICIES = ['manual', 'auto'] as const;
export type SitePolicy = (typeof SITE_POLICIES)[number];

export const ENROLLMENT_METHODS = ['pairing_code', 'enrollment_key'] as const;
export type EnrollmentMethod = (typeof ENROLLMENT_METHODS)[number];

export const ENROLLMENT_STATUSES = [
  'awaiting_verification',
  'awaiting_approval',
  'pending_confirmation',
  'approved',
  'rejected',
  'failed',
  'expired',
] as const;
export type EnrollmentStatus = (typeof ENROLLMENT_STATUSES)[number];

/** What verify answers: an enrollment the agent may poll for. */
export const VERIFY_STATUSES = ['awaiting_approval', 'approved', 'pending_confirmation'] as const;
export type VerifyStatus = (typeof VERIFY_STATUSES)[number];

/** What the status poll answers with 202: still waiting. */
export const WAITING_STATUSES = ['awaiting_approval', 'pending_confirmation'] as const;

export const AGENT_STATUSES = ['active', 'revoked', 'pending_confirmation'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** A pairing code's status as listed: derived from its row and the clock, never stored. */
export const PAIRING_CODE_STATUSES = ['active', 'used', 'expired', 'revoked'] as const;
export type PairingCodeStatus = (typeof PAIRING_CODE_STATUSES)[number];

/**
 * admin: everything; auditor: GET only; service: the internal routes only (a
 * management server verifying agent keys); tunnel: the tunnel endpoint's
 * `/api/v1/internal/tunnel/*` routes only (issue 18: a service token must not
 * be able to add a host key every agent then trusts); edge: the edges' report
 * of the lockouts and blocks they impose (issue 20), and nothing else.
 */
export const OPERATOR_ROLES = ['admin', 'auditor', 'service', 'tunnel', 'edge'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];
/** Roles held by programs, not people: they never sign in to the console. */
export const isMachineRole = (role: OperatorRole): boolean => role === 'service' || role === 'tunnel' || role === 'edge';

/**
 * The edge's lockouts as the api lists them (packages/lockouts makes them):
 * `lockout` one (site, IP), `block` one IP's enrollment, `poll_block` verify
 * and status, `agent_block` the agent routes.
 */
export const LOCKOUT_KINDS = ['lockout', 'block', 'poll_block', 'agent_block'] as const;

export const TUNNEL_EVENTS = ['opened', 'closed', 'denied'] as const;

/**
 * Webhook event types (contract v1.2, "Alerts: webhooks"). All but
 * `webhook.test` are derived from audit rows by the trigger of migration 0010.
 */
export const WEBHOOK_EVENT_TYPES = [
  'enrollment.pending',
  'enrollment.approved',
  'enrollment.rejected',
  'enrollment.site_conflict',
  'enrollment.identity_collision',
  'agent.revoked',
  'site.enrollment_key_rotated',
  'security.lockout',
  'tunnel.connected',
  'tunnel.disconnected',
  'webhook.test',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const WEBHOOK_FORMATS = ['standard', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** A delivery's state: `retrying` until a 2xx (`delivered`) or 24 h of failures (`failed`). */
export const WEBHOOK_DELIVERY_STATES = ['retrying', 'delivered', 'failed'] as const;
export type WebhookDeliveryState = (typeof WEBHOOK_DELIVERY_STATES)[number];
