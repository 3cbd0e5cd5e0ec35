/**
 * The api's route table as documentation: one entry per route the app
 * registers, with the valibot schemas the route modules parse with (imported,
 * never restated) and every status the contract lists. document.ts turns it
 * into OpenAPI 3.1; openapi.test.ts checks it against the app's real routes in
 * both directions, so a route cannot be added without its entry.
 */
import {
  AgentChallengeRequest,
  AgentCredentialsRequest,
  AgentKeyVerifyRequest,
  CertificateVerifyRequest,
  PruneAuditRequest,
  SetPasswordRequest,
  TunnelActiveAgentsRequest,
  TunnelAuthorizedKeysRequest,
  TunnelEventRequest,
  TunnelHostKeysRequest,
  ApproveRequest,
  ClearLockoutRequest,
  CreateOperatorRequest,
  CreatePairingCodeRequest,
  CreateSiteRequest,
  EnrollRequest,
  RejectRequest,
  RevokeAgentRequest,
  RotateEnrollmentKeyRequest,
  VerifyRequest,
  RetireHostKeyRequest,
  type ErrorCode,
  type OperatorRole,
} from '@airlock/schema';
import type { GenericSchema } from 'valibot';
import { ListQuery as AgentListQuery } from '../routes/admin/agents.ts';
import { AuditQuery, RefusalQuery } from '../routes/admin/audit.ts';
import { ListQuery as EnrollmentListQuery } from '../routes/admin/enrollments.ts';
import { ListQuery as PairingCodeListQuery } from '../routes/admin/pairing-codes.ts';

export type HttpMethod = 'get' | 'post' | 'delete';
export type Area = 'public' | 'admin' | 'internal' | 'health' | 'docs';

/** A success answer (a description) or a refusal (the catalogue codes it may carry). */
export type ResponseDoc = { description: string } | { codes: readonly ErrorCode[]; description?: string };

export interface RouteDoc {
  method: HttpMethod;
  /** Hono's pattern (`:id`); document.ts writes `{id}`. */
  path: string;
  area: Area;
  operationId: string;
  summary: string;
  /** none, the enrollment poll token, or an operator token (roles in `roles`). */
  auth: 'none' | 'poll_token' | 'operator';
  roles?: readonly OperatorRole[];
  body?: GenericSchema;
  bodyOptional?: boolean;
  query?: GenericSchema;
  params?: Record<string, string>;
  responses: Record<number, ResponseDoc>;
}

const bodyErrors = {
  400: { codes: ['invalid_request'] },
  413: { codes: ['payload_too_large'] },
  415: { codes: ['unsupported_media_type'] },
} as const;
const operatorErrors = { 401: { codes: ['unauthorized'] }, 403: { codes: ['forbidden'] } } as const;
const READ = ['admin', 'auditor'] as const;
const WRITE = ['admin'] as const;
// Issue 18: the tunnel endpoint's own role; a service token no longer reaches these.
const TUNNEL = ['admin', 'tunnel'] as const;

export const ROUTES: readonly RouteDoc[] = [
  // ---- health (no auth) -----------------------------------------------------
  { method: 'get', path: '/healthz', area: 'health', operationId: 'healthz', summary: 'Liveness', auth: 'none', responses: { 200: { description: '`{"status":"ok"}`' } } },
  {
    method: 'get', path: '/readyz', area: 'health', operationId: 'readyz', summary: 'Database reachable and migrated', auth: 'none',
    responses: { 200: { description: '`{"status":"ready"}`' }, 503: { codes: ['service_unavailable'] } },
  },

  // ---- public (forwarded by the edge) ---------------------------------------
  {
    method: 'post', path: '/api/v1/enroll', area: 'public', operationId: 'enroll', summary: 'Start an enrollment with a pairing code or a site enrollment key', auth: 'none',
    body: EnrollRequest,
    responses: {
      201: { description: '`{enrollment_id, challenge, expires_at}`: answer the challenge before expires_at' },
      ...bodyErrors,
      401: { codes: ['enrollment_denied'], description: 'Same body and timing for every cause' },
      409: { codes: ['site_conflict'] },
      429: { codes: ['rate_limited'] },
    },
  },
  {
    method: 'post', path: '/api/v1/enroll/verify', area: 'public', operationId: 'verifyEnrollment', summary: 'Answer the challenge with a signature of the enrolled key', auth: 'none',
    body: VerifyRequest,
    responses: {
      200: { description: '`{status, poll_token, poll_interval}`' },
      ...bodyErrors,
      401: { codes: ['signature_invalid', 'enrollment_denied'] },
      410: { codes: ['expired_token'] },
      429: { codes: ['rate_limited'] },
    },
  },
  {
    method: 'get', path: '/api/v1/enroll/status', area: 'public', operationId: 'enrollmentStatus', summary: 'Poll for the decision; the credentials are returned once', auth: 'poll_token',
    responses: {
      200: { description: '`{status:"approved", agent_id, site_code, credentials}` (first read only)' },
      202: { description: '`{status, poll_interval}`: still waiting' },
      401: { codes: ['invalid_token'] },
      403: { codes: ['enrollment_rejected'] },
      410: { codes: ['credentials_already_issued', 'expired_token'] },
      429: { codes: ['slow_down', 'rate_limited'], description: 'Polled faster than poll_interval: the interval grows by 5 s' },
    },
  },

  // ---- agent routes (public, v1.1: an enrolled agent proves its key) ---------
  {
    method: 'post', path: '/api/v1/agent/challenge', area: 'public', operationId: 'agentChallenge', summary: 'A one-time challenge for an enrolled key (same answer whether or not the fingerprint is known)', auth: 'none',
    body: AgentChallengeRequest,
    responses: { 201: { description: '`{challenge_id, challenge, expires_at}` (60 s)' }, ...bodyErrors, 429: { codes: ['rate_limited'] } },
  },
  {
    method: 'post', path: '/api/v1/agent/credentials', area: 'public', operationId: 'agentCredentials', summary: 'Renew the certificate, rotate or recover the agent key, with a signed challenge', auth: 'none',
    body: AgentCredentialsRequest,
    responses: {
      200: { description: '`{agent_id, site_code, credentials: {agent_key, ssh, tls}}`' },
      ...bodyErrors,
      401: { codes: ['agent_denied'], description: 'One body for every cause' },
      429: { codes: ['rate_limited'] },
    },
  },

  // ---- admin ----------------------------------------------------------------
  {
    method: 'post', path: '/api/v1/admin/sites', area: 'admin', operationId: 'createSite', summary: 'Create a site', auth: 'operator', roles: WRITE,
    body: CreateSiteRequest,
    responses: { 201: { description: 'The site' }, ...bodyErrors, ...operatorErrors, 409: { codes: ['conflict'] } },
  },
  { method: 'get', path: '/api/v1/admin/sites', area: 'admin', operationId: 'listSites', summary: 'List sites', auth: 'operator', roles: READ, responses: { 200: { description: '`{items}`' }, ...operatorErrors } },
  {
    method: 'post', path: '/api/v1/admin/sites/:site_code/enrollment-key', area: 'admin', operationId: 'rotateEnrollmentKey', summary: "Rotate a site's enrollment key; the key is shown only here", auth: 'operator', roles: WRITE,
    params: { site_code: 'Site code' }, body: RotateEnrollmentKeyRequest, bodyOptional: true,
    responses: { 201: { description: '`{key, version, fingerprint, …}`' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/sites/:site_code/enrollment-key', area: 'admin', operationId: 'describeEnrollmentKey', summary: "A site's active enrollment key (never the key)", auth: 'operator', roles: READ,
    params: { site_code: 'Site code' },
    responses: { 200: { description: '`{version, fingerprint, …}`' }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  {
    method: 'post', path: '/api/v1/admin/pairing-codes', area: 'admin', operationId: 'createPairingCode', summary: 'Make a one-time pairing code; the code is shown only here', auth: 'operator', roles: WRITE,
    body: CreatePairingCodeRequest,
    responses: { 201: { description: '`{id, code, site_code, expires_at}`' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/pairing-codes', area: 'admin', operationId: 'listPairingCodes', summary: 'List pairing codes (never the codes)', auth: 'operator', roles: READ,
    query: PairingCodeListQuery, responses: { 200: { description: '`{items}`' }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  {
    method: 'delete', path: '/api/v1/admin/pairing-codes/:id', area: 'admin', operationId: 'revokePairingCode', summary: 'Revoke an unused pairing code', auth: 'operator', roles: WRITE,
    params: { id: 'Pairing code id (UUID)' },
    responses: { 204: { description: 'Revoked' }, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/enrollments', area: 'admin', operationId: 'listEnrollments', summary: 'List enrollments', auth: 'operator', roles: READ,
    query: EnrollmentListQuery, responses: { 200: { description: '`{items}`' }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/admin/enrollments/:id/approve', area: 'admin', operationId: 'approveEnrollment', summary: 'Approve an enrollment', auth: 'operator', roles: WRITE,
    params: { id: 'Enrollment id (UUID)' }, body: ApproveRequest,
    responses: { 200: { description: 'The enrollment' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state', 'site_conflict'] } },
  },
  {
    method: 'post', path: '/api/v1/admin/enrollments/:id/reject', area: 'admin', operationId: 'rejectEnrollment', summary: 'Reject an enrollment; the agent is told the reason', auth: 'operator', roles: WRITE,
    params: { id: 'Enrollment id (UUID)' }, body: RejectRequest,
    responses: { 200: { description: 'The enrollment' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/agents', area: 'admin', operationId: 'listAgents', summary: 'List agents', auth: 'operator', roles: READ,
    query: AgentListQuery, responses: { 200: { description: '`{items}`' }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/admin/agents/:id/revoke', area: 'admin', operationId: 'revokeAgent', summary: "Revoke an agent: its keys stop verifying at once", auth: 'operator', roles: WRITE,
    params: { id: 'Agent id (UUID)' }, body: RevokeAgentRequest, bodyOptional: true,
    responses: { 200: { description: 'The agent' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/audit', area: 'admin', operationId: 'listAudit', summary: 'Audit events, newest first', auth: 'operator', roles: READ,
    query: AuditQuery, responses: { 200: { description: '`{items, next_cursor}`' }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  {
    method: 'get', path: '/api/v1/admin/audit/refusals', area: 'admin', operationId: 'listRefusals', summary: 'Counted refusals from strangers per (source IP, kind, minute)', auth: 'operator', roles: READ,
    query: RefusalQuery, responses: { 200: { description: '`{items, next_cursor}`' }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/admin/audit/prune', area: 'admin', operationId: 'pruneAudit', summary: 'Delete audit rows and refusal counts older than `before` (writes an audit.pruned row)', auth: 'operator', roles: WRITE,
    body: PruneAuditRequest,
    responses: { 200: { description: '`{before, events_deleted, refusal_counts_deleted}`' }, ...bodyErrors, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/admin/operators', area: 'admin', operationId: 'createOperator', summary: 'Create an operator; its token is shown only here', auth: 'operator', roles: WRITE,
    body: CreateOperatorRequest,
    responses: { 201: { description: 'The operator and its token' }, ...bodyErrors, ...operatorErrors, 409: { codes: ['conflict'] } },
  },
  { method: 'get', path: '/api/v1/admin/operators', area: 'admin', operationId: 'listOperators', summary: 'List operators (never their tokens)', auth: 'operator', roles: READ, responses: { 200: { description: '`{items}`' }, ...operatorErrors } },
  {
    method: 'post', path: '/api/v1/admin/operators/:name/disable', area: 'admin', operationId: 'disableOperator', summary: 'Disable an operator: all its tokens stop at once', auth: 'operator', roles: WRITE,
    params: { name: 'Operator name' },
    responses: { 200: { description: 'The operator' }, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  {
    method: 'post', path: '/api/v1/admin/operators/:name/clear-sign-in-failures', area: 'admin', operationId: 'clearOperatorSignInFailures',
    summary: "Lift an operator's console sign-in lockout: its failures so far stop counting", auth: 'operator', roles: WRITE,
    params: { name: 'Operator name' },
    responses: { 200: { description: '`{name, role, cleared_at}`' }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  {
    method: 'post', path: '/api/v1/admin/operators/:name/password', area: 'admin', operationId: 'setOperatorPassword', summary: 'Set the console password of an admin or auditor; ends its console sessions', auth: 'operator', roles: WRITE,
    params: { name: 'Operator name' }, body: SetPasswordRequest,
    responses: { 200: { description: 'The operator' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/lockouts', area: 'admin', operationId: 'listLockouts', summary: "The edge's active lockouts and blocks (Redis)", auth: 'operator', roles: READ,
    responses: { 200: { description: '`{items}`' }, ...operatorErrors, 503: { codes: ['service_unavailable'], description: 'The api has no REDIS_URL' } },
  },
  {
    method: 'post', path: '/api/v1/admin/lockouts/clear', area: 'admin', operationId: 'clearLockout', summary: 'Lift one lockout or block', auth: 'operator', roles: WRITE,
    body: ClearLockoutRequest,
    responses: { 200: { description: '`{key, cleared}`' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 503: { codes: ['service_unavailable'] } },
  },
  {
    method: 'get', path: '/api/v1/admin/tunnel/host-keys', area: 'admin', operationId: 'listTunnelHostKeys', summary: "The tunnel endpoint's host keys, retired ones included", auth: 'operator', roles: READ,
    responses: { 200: { description: '`{items: [{fingerprint, public_key, registered_by, registered_at, last_seen_at, retired_at, retired_by}]}`' }, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/admin/tunnel/host-keys/retire', area: 'admin', operationId: 'retireTunnelHostKey', summary: 'Retire a host key: out of known_hosts at once, never registered again', auth: 'operator', roles: WRITE,
    body: RetireHostKeyRequest,
    responses: { 200: { description: 'The retired key' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },

  // ---- internal (management server) -----------------------------------------
  {
    method: 'post', path: '/api/v1/internal/agent-keys/verify', area: 'internal', operationId: 'verifyAgentKey', summary: 'Check an agent key (cak_)', auth: 'operator', roles: ['admin', 'service'],
    body: AgentKeyVerifyRequest,
    responses: { 200: { description: '`{agent_id, site_code, status}`' }, ...bodyErrors, 401: { codes: ['unauthorized', 'invalid_key'] }, 403: { codes: ['forbidden'] } },
  },

  { method: 'get', path: '/api/v1/internal/ca', area: 'internal', operationId: 'caCertificates', summary: "Airlock's CA bundle (PEM), to configure mTLS peers", auth: 'operator', roles: ['admin', 'auditor', 'service', 'tunnel'], responses: { 200: { description: '`{ca_certificates}`' }, ...operatorErrors } },
  {
    method: 'post', path: '/api/v1/internal/certificates/verify', area: 'internal', operationId: 'verifyCertificate', summary: "Check a presented agent certificate: ours, current, and its agent active", auth: 'operator', roles: ['admin', 'service'],
    body: CertificateVerifyRequest,
    responses: { 200: { description: '`{agent_id, site_code, status}`' }, ...bodyErrors, 401: { codes: ['unauthorized', 'invalid_certificate'] }, 403: { codes: ['forbidden'] } },
  },
  {
    method: 'post', path: '/api/v1/internal/tunnel/authorized-keys', area: 'internal', operationId: 'tunnelAuthorizedKeys', summary: "The tunnel endpoint's AuthorizedKeysCommand: active agents' keys for a fingerprint", auth: 'operator', roles: TUNNEL,
    body: TunnelAuthorizedKeysRequest,
    responses: { 200: { description: '`{keys: [{agent_id, site_code, public_key}], permit_open, inactive}`' }, ...bodyErrors, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/internal/tunnel/host-keys', area: 'internal', operationId: 'tunnelHostKeys', summary: "The tunnel endpoint registers its host keys (served in credentials.ssh.known_hosts)", auth: 'operator', roles: TUNNEL,
    body: TunnelHostKeysRequest,
    responses: { 204: { description: 'Registered; a new key is audited as tunnel.host_key_added' }, ...bodyErrors, ...operatorErrors, 409: { codes: ['conflict'], description: 'An admin retired this host key' } },
  },
  {
    method: 'post', path: '/api/v1/internal/tunnel/events', area: 'internal', operationId: 'tunnelEvent', summary: 'tunnel.opened / tunnel.closed / tunnel.denied, audited', auth: 'operator', roles: TUNNEL,
    body: TunnelEventRequest,
    responses: { 204: { description: 'Recorded' }, ...bodyErrors, ...operatorErrors },
  },
  {
    method: 'post', path: '/api/v1/internal/tunnel/active-agents', area: 'internal', operationId: 'tunnelActiveAgents', summary: 'Which of these connected agents are still active (live revocation)', auth: 'operator', roles: TUNNEL,
    body: TunnelActiveAgentsRequest,
    responses: { 200: { description: '`{active}`' }, ...bodyErrors, ...operatorErrors },
  },

  // ---- this document ----------------------------------------------------------
  {
    method: 'get', path: '/api/v1/openapi.json', area: 'docs', operationId: 'openapi', summary: 'This OpenAPI 3.1 document', auth: 'operator', roles: ['admin', 'auditor', 'service', 'tunnel'],
    responses: { 200: { description: 'OpenAPI 3.1 JSON' }, 401: { codes: ['unauthorized'] } },
  },
  {
    method: 'get', path: '/api/v1/docs', area: 'docs', operationId: 'docs', summary: 'Browsable API reference (HTML, no script)', auth: 'none',
    responses: { 200: { description: 'HTML' } },
  },
];
