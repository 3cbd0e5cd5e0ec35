/**
 * Every route of the api, once: method, path, area, auth and roles, the
 * request body, query and path parameters, the answer's schema per success
 * status and the catalogue codes per refusal status. What follows from it:
 *
 * - the OpenAPI document (apps/api/src/openapi/document.ts), real schemas for
 *   requests and answers alike;
 * - the api's own check of every JSON answer in tests (`checkResponses`);
 * - `@airlock/client`'s paths and answer types;
 * - the edge's allowlist of public routes (apps/edge/src/screen.ts);
 * - the auth matrix (apps/api/test/admin-auth.test.ts): no token, a wrong
 *   token and every role on every operator route.
 *
 * The route modules parse with the same schemas; apps/api/test/openapi.test.ts
 * checks this table against the app's real routes in both directions.
 *
 * @example
 *   ROUTES.listSites.path; // '/api/v1/admin/sites'
 *   type Sites = ResponseOf<'listSites'>; // { items: Site[] }
 */
import type * as v from 'valibot';
import * as admin from './requests/admin.ts';
import { AgentChallengeRequest, AgentCredentialsRequest } from './requests/agent.ts';
import { EnrollRequest, VerifyRequest } from './requests/enrollment.ts';
import * as installerRequests from './requests/installers.ts';
import * as internal from './requests/internal.ts';
import { AgentListQuery, AuditQuery, EnrollmentListQuery, PairingCodeListQuery, RefusalQuery, SiteListQuery, WebhookDeliveriesQuery } from './requests/queries.ts';
import * as answers from './responses/admin.ts';
import * as publicAnswers from './responses/enrollment.ts';
import * as installerAnswers from './responses/installers.ts';
import * as internalAnswers from './responses/internal.ts';
import { Liveness, OpenApiDocument, Readiness } from './responses/service.ts';
import { bodyErrors, EDGE, EVERY_ROLE, operatorErrors, READ, TUNNEL, WRITE, type RouteSpec } from './route-spec.ts';

export type { Area, HttpMethod, RefusalSpec, ResponseSpec, RouteSpec, SuccessSpec } from './route-spec.ts';

/** Keyed by operationId, in the order the OpenAPI document lists them. */
export const ROUTES = {
  // ---- health (no auth) -----------------------------------------------------
  healthz: { method: 'get', path: '/healthz', area: 'health', summary: 'Liveness', auth: 'none', responses: { 200: { description: 'Up', schema: Liveness } } },
  readyz: {
    method: 'get', path: '/readyz', area: 'health', summary: 'Database reachable and migrated', auth: 'none',
    responses: { 200: { description: 'Ready', schema: Readiness }, 503: { codes: ['service_unavailable'] } },
  },

  // ---- public (forwarded by the edge) ---------------------------------------
  enroll: {
    method: 'post', path: '/api/v1/enroll', area: 'public', summary: 'Start an enrollment with a pairing code or a site enrollment key', auth: 'none',
    body: EnrollRequest,
    responses: {
      201: { description: 'Accepted: answer the challenge before expires_at', schema: publicAnswers.EnrollResponse },
      ...bodyErrors,
      401: { codes: ['enrollment_denied'], description: 'Same body and timing for every cause' },
      409: { codes: ['site_conflict'] },
      429: { codes: ['rate_limited'] },
    },
  },
  verifyEnrollment: {
    method: 'post', path: '/api/v1/enroll/verify', area: 'public', summary: 'Answer the challenge with a signature of the enrolled key', auth: 'none',
    body: VerifyRequest,
    responses: {
      200: { description: 'Signature good: poll with the token', schema: publicAnswers.VerifyResponse },
      ...bodyErrors,
      401: { codes: ['signature_invalid', 'enrollment_denied'] },
      410: { codes: ['expired_token'] },
      429: { codes: ['rate_limited'] },
    },
  },
  enrollmentStatus: {
    method: 'get', path: '/api/v1/enroll/status', area: 'public', summary: 'Poll for the decision; the credentials are returned once', auth: 'poll_token',
    responses: {
      200: { description: 'Approved: the credentials (first read only)', schema: publicAnswers.StatusApprovedResponse },
      202: { description: 'Still waiting', schema: publicAnswers.StatusWaitingResponse },
      401: { codes: ['invalid_token'] },
      403: { codes: ['enrollment_rejected'] },
      410: { codes: ['credentials_already_issued', 'expired_token'] },
      429: { codes: ['slow_down', 'rate_limited'], description: 'Polled faster than poll_interval: the interval grows by 5 s' },
    },
  },

  // ---- agent routes (public, v1.1: an enrolled agent proves its key) ---------
  agentChallenge: {
    method: 'post', path: '/api/v1/agent/challenge', area: 'public', summary: 'A one-time challenge for an enrolled key (same answer whether or not the fingerprint is known)', auth: 'none',
    body: AgentChallengeRequest,
    responses: { 201: { description: 'The challenge (60 s)', schema: publicAnswers.AgentChallengeResponse }, ...bodyErrors, 429: { codes: ['rate_limited'] } },
  },
  agentCredentials: {
    method: 'post', path: '/api/v1/agent/credentials', area: 'public', summary: 'Renew the certificate, rotate or recover the agent key, with a signed challenge', auth: 'none',
    body: AgentCredentialsRequest,
    responses: {
      200: { description: 'The credentials', schema: publicAnswers.AgentCredentialsResponse },
      ...bodyErrors,
      401: { codes: ['agent_denied'], description: 'One body for every cause' },
      429: { codes: ['rate_limited'] },
    },
  },

  // ---- admin ----------------------------------------------------------------
  createSite: {
    method: 'post', path: '/api/v1/admin/sites', area: 'admin', summary: 'Create a site', auth: 'operator', roles: WRITE,
    body: admin.CreateSiteRequest,
    responses: {
      201: { description: 'The site', schema: answers.Site },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'], description: 'No such tenant (or not yours)' }, 409: { codes: ['conflict'] },
    },
  },
  listSites: {
    method: 'get', path: '/api/v1/admin/sites', area: 'admin', summary: 'List sites by code, one page at a time', auth: 'operator', roles: READ,
    query: SiteListQuery,
    responses: { 200: { description: 'One page', schema: answers.SiteList }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  updateSite: {
    method: 'patch', path: '/api/v1/admin/sites/:site_code', area: 'admin', summary: "Change a site's name, policy or source allowlist (audited)", auth: 'operator', roles: WRITE,
    params: { site_code: 'Site code' }, body: admin.UpdateSiteRequest,
    responses: { 200: { description: 'The site', schema: answers.Site }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  createTenant: {
    method: 'post', path: '/api/v1/admin/tenants', area: 'admin', summary: 'Create a tenant (global admins only)', auth: 'operator', roles: WRITE, globalOnly: true,
    body: admin.CreateTenantRequest,
    responses: { 201: { description: 'The tenant', schema: answers.Tenant }, ...bodyErrors, ...operatorErrors, 409: { codes: ['conflict'] } },
  },
  listTenants: {
    method: 'get', path: '/api/v1/admin/tenants', area: 'admin', summary: 'List tenants (a scoped operator sees its own)', auth: 'operator', roles: READ,
    responses: { 200: { description: 'The tenants', schema: answers.TenantList }, ...operatorErrors },
  },
  rotateEnrollmentKey: {
    method: 'post', path: '/api/v1/admin/sites/:site_code/enrollment-key', area: 'admin', summary: "Rotate a site's enrollment key; the key is shown only here", auth: 'operator', roles: WRITE,
    params: { site_code: 'Site code' }, body: admin.RotateEnrollmentKeyRequest, bodyOptional: true,
    responses: { 201: { description: 'The new key', schema: answers.RotatedEnrollmentKey }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  describeEnrollmentKey: {
    method: 'get', path: '/api/v1/admin/sites/:site_code/enrollment-key', area: 'admin', summary: "A site's active enrollment key (never the key)", auth: 'operator', roles: READ,
    params: { site_code: 'Site code' },
    responses: { 200: { description: 'The active key, described', schema: answers.EnrollmentKeyDescription }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  buildInstaller: {
    method: 'post', path: '/api/v1/admin/sites/:site_code/installer', area: 'admin', summary: "Build a site's signed installer, minting the next enrollment key or embedding the current one", auth: 'operator', roles: WRITE,
    params: { site_code: 'Site code' }, body: installerRequests.BuildInstallerRequest,
    responses: {
      201: { description: 'The installer, its sha256 and its SSHSIG; the key only when minted now', schema: installerAnswers.BuiltInstaller },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] },
      409: { codes: ['conflict'], description: 'The enrollment key given is not the site\'s current, usable key' },
      503: { codes: ['service_unavailable'], description: 'The agent bundle is not built on the api host' },
    },
  },
  installerSigners: {
    method: 'get', path: '/api/v1/admin/installers/allowed-signers', area: 'admin', summary: 'The installer signing keys as an ssh-keygen allowed_signers file', auth: 'operator', roles: READ,
    responses: { 200: { description: 'Current key first, then the previous one during an overlap', schema: installerAnswers.InstallerSigners }, ...operatorErrors },
  },
  rotateInstallerSigningKey: {
    method: 'post', path: '/api/v1/admin/installers/signing-key', area: 'admin', summary: 'Make a new installer signing key; the previous one stays listed until the next rotation', auth: 'operator', roles: WRITE, globalOnly: true,
    responses: { 201: { description: 'The signers after the rotation', schema: installerAnswers.InstallerSigners }, ...operatorErrors },
  },
  createPairingCode: {
    method: 'post', path: '/api/v1/admin/pairing-codes', area: 'admin', summary: 'Make a one-time pairing code; the code is shown only here', auth: 'operator', roles: WRITE,
    body: admin.CreatePairingCodeRequest,
    responses: { 201: { description: 'The code', schema: answers.CreatedPairingCode }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  listPairingCodes: {
    method: 'get', path: '/api/v1/admin/pairing-codes', area: 'admin', summary: 'List pairing codes (never the codes)', auth: 'operator', roles: READ,
    query: PairingCodeListQuery,
    responses: { 200: { description: 'One page, newest first', schema: answers.PairingCodeList }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  revokePairingCode: {
    method: 'delete', path: '/api/v1/admin/pairing-codes/:id', area: 'admin', summary: 'Revoke an unused pairing code', auth: 'operator', roles: WRITE,
    params: { id: 'Pairing code id (UUID)' },
    responses: { 204: { description: 'Revoked' }, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  listEnrollments: {
    method: 'get', path: '/api/v1/admin/enrollments', area: 'admin', summary: 'List enrollments, newest first, one page at a time', auth: 'operator', roles: READ,
    query: EnrollmentListQuery,
    responses: { 200: { description: 'One page', schema: answers.EnrollmentPage }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  approveEnrollment: {
    method: 'post', path: '/api/v1/admin/enrollments/:id/approve', area: 'admin', summary: 'Approve an enrollment', auth: 'operator', roles: WRITE,
    params: { id: 'Enrollment id (UUID)' }, body: admin.ApproveRequest,
    responses: {
      200: { description: 'Approved', schema: answers.Decision },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state', 'site_conflict'] },
    },
  },
  rejectEnrollment: {
    method: 'post', path: '/api/v1/admin/enrollments/:id/reject', area: 'admin', summary: 'Reject an enrollment; the agent is told the reason', auth: 'operator', roles: WRITE,
    params: { id: 'Enrollment id (UUID)' }, body: admin.RejectRequest,
    responses: {
      200: { description: 'Rejected', schema: answers.Decision },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] },
    },
  },
  listAgents: {
    method: 'get', path: '/api/v1/admin/agents', area: 'admin', summary: 'List agents', auth: 'operator', roles: READ,
    query: AgentListQuery,
    responses: { 200: { description: 'One page, newest first', schema: answers.AgentList }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  updateAgent: {
    method: 'patch', path: '/api/v1/admin/agents/:id', area: 'admin', summary: "Replace an agent's labels (audited)", auth: 'operator', roles: WRITE,
    params: { id: 'Agent id (UUID)' }, body: admin.UpdateAgentRequest,
    responses: { 200: { description: 'The agent', schema: answers.Agent }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  revokeAgent: {
    method: 'post', path: '/api/v1/admin/agents/:id/revoke', area: 'admin', summary: 'Revoke an agent: its keys stop verifying at once', auth: 'operator', roles: WRITE,
    params: { id: 'Agent id (UUID)' }, body: admin.RevokeAgentRequest, bodyOptional: true,
    responses: { 200: { description: 'The agent, revoked', schema: answers.RevokedAgent }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  listAudit: {
    method: 'get', path: '/api/v1/admin/audit', area: 'admin', summary: 'Audit events, newest first', auth: 'operator', roles: READ,
    query: AuditQuery,
    responses: { 200: { description: 'One page', schema: answers.AuditPage }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  listRefusals: {
    method: 'get', path: '/api/v1/admin/audit/refusals', area: 'admin', summary: 'Counted refusals from strangers per (source IP, kind, minute)', auth: 'operator', roles: READ, globalOnly: true,
    query: RefusalQuery,
    responses: { 200: { description: 'One page', schema: answers.RefusalPage }, 400: { codes: ['invalid_request'] }, ...operatorErrors },
  },
  pruneAudit: {
    method: 'post', path: '/api/v1/admin/audit/prune', area: 'admin', summary: 'Delete audit rows and refusal counts older than `before` (writes an audit.pruned row)', auth: 'operator', roles: WRITE, globalOnly: true,
    body: admin.PruneAuditRequest,
    responses: { 200: { description: 'What left', schema: answers.PruneResult }, ...bodyErrors, ...operatorErrors },
  },
  createOperator: {
    method: 'post', path: '/api/v1/admin/operators', area: 'admin', summary: 'Create an operator; its token is shown only here', auth: 'operator', roles: WRITE,
    body: admin.CreateOperatorRequest,
    responses: {
      201: { description: 'The operator and its token', schema: answers.CreatedOperator },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'], description: 'No such tenant (or not yours)' }, 409: { codes: ['conflict'] },
    },
  },
  listOperators: {
    method: 'get', path: '/api/v1/admin/operators', area: 'admin', summary: 'List operators (never their tokens)', auth: 'operator', roles: READ,
    responses: { 200: { description: 'The operators', schema: answers.OperatorList }, ...operatorErrors },
  },
  disableOperator: {
    method: 'post', path: '/api/v1/admin/operators/:name/disable', area: 'admin', summary: 'Disable an operator: all its tokens stop at once', auth: 'operator', roles: WRITE,
    params: { name: 'Operator name' },
    responses: { 200: { description: 'Disabled', schema: answers.DisabledOperator }, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  clearOperatorSignInFailures: {
    method: 'post', path: '/api/v1/admin/operators/:name/clear-sign-in-failures', area: 'admin',
    summary: "Lift an operator's console sign-in lockout: its failures so far stop counting", auth: 'operator', roles: WRITE,
    params: { name: 'Operator name' },
    responses: { 200: { description: 'Cleared', schema: answers.ClearedSignInFailures }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  setOperatorPassword: {
    method: 'post', path: '/api/v1/admin/operators/:name/password', area: 'admin', summary: 'Set the console password of an admin or auditor; ends its console sessions', auth: 'operator', roles: WRITE,
    params: { name: 'Operator name' }, body: admin.SetPasswordRequest,
    responses: { 200: { description: 'Set', schema: answers.PasswordSet }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] } },
  },
  listLockouts: {
    method: 'get', path: '/api/v1/admin/lockouts', area: 'admin', summary: "The edge's active lockouts and blocks (Redis)", auth: 'operator', roles: READ, globalOnly: true,
    responses: {
      200: { description: 'Active lockouts, longest first', schema: answers.LockoutList },
      ...operatorErrors,
      503: { codes: ['service_unavailable'], description: 'The api has no REDIS_URL, or Redis is unreachable' },
    },
  },
  clearLockout: {
    method: 'post', path: '/api/v1/admin/lockouts/clear', area: 'admin', summary: 'Lift one lockout or block', auth: 'operator', roles: WRITE, globalOnly: true,
    body: admin.ClearLockoutRequest,
    responses: {
      200: { description: 'Whether it was active', schema: answers.ClearedLockout },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 503: { codes: ['service_unavailable'] },
    },
  },
  listTunnelHostKeys: {
    method: 'get', path: '/api/v1/admin/tunnel/host-keys', area: 'admin', summary: "The tunnel endpoint's host keys, retired ones included", auth: 'operator', roles: READ, globalOnly: true,
    responses: { 200: { description: 'The host keys', schema: internalAnswers.TunnelHostKeyList }, ...operatorErrors },
  },
  retireTunnelHostKey: {
    method: 'post', path: '/api/v1/admin/tunnel/host-keys/retire', area: 'admin', summary: 'Retire a host key: out of known_hosts at once, never registered again', auth: 'operator', roles: WRITE, globalOnly: true,
    body: admin.RetireHostKeyRequest,
    responses: {
      200: { description: 'The retired key', schema: internalAnswers.TunnelHostKeyItem },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'] }, 409: { codes: ['invalid_state'] },
    },
  },

  // ---- alerts: webhooks (contract v1.2) --------------------------------------
  createWebhook: {
    method: 'post', path: '/api/v1/admin/webhooks', area: 'admin', summary: 'Add a webhook; its whsec_ secret is shown only here', auth: 'operator', roles: WRITE,
    body: admin.CreateWebhookRequest,
    responses: {
      201: { description: 'The webhook and its secret', schema: answers.CreatedWebhook },
      ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'], description: 'No such site' },
    },
  },
  listWebhooks: {
    method: 'get', path: '/api/v1/admin/webhooks', area: 'admin', summary: 'List webhooks (never their secrets)', auth: 'operator', roles: READ,
    responses: { 200: { description: 'The webhooks', schema: answers.WebhookList }, ...operatorErrors },
  },
  deleteWebhook: {
    method: 'delete', path: '/api/v1/admin/webhooks/:id', area: 'admin', summary: 'Delete a webhook and its pending deliveries', auth: 'operator', roles: WRITE,
    params: { id: 'Webhook id (UUID)' },
    responses: { 204: { description: 'Deleted' }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  testWebhook: {
    method: 'post', path: '/api/v1/admin/webhooks/:id/test', area: 'admin', summary: 'Send a webhook.test event to this webhook only', auth: 'operator', roles: WRITE,
    params: { id: 'Webhook id (UUID)' },
    responses: { 202: { description: 'Queued: its deliveries show the outcome', schema: answers.WebhookTestSent }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  rotateWebhookSecret: {
    method: 'post', path: '/api/v1/admin/webhooks/:id/secret', area: 'admin', summary: 'A new secret, shown only here; for 24 h the old one signs too', auth: 'operator', roles: WRITE,
    params: { id: 'Webhook id (UUID)' },
    responses: { 201: { description: 'The new secret', schema: answers.RotatedWebhookSecret }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },
  listWebhookDeliveries: {
    method: 'get', path: '/api/v1/admin/webhooks/:id/deliveries', area: 'admin', summary: "A webhook's deliveries, newest first", auth: 'operator', roles: READ,
    params: { id: 'Webhook id (UUID)' }, query: WebhookDeliveriesQuery,
    responses: { 200: { description: 'One page', schema: answers.WebhookDeliveryPage }, 400: { codes: ['invalid_request'] }, ...operatorErrors, 404: { codes: ['not_found'] } },
  },

  // ---- internal (management server, tunnel endpoint) -------------------------
  verifyAgentKey: {
    method: 'post', path: '/api/v1/internal/agent-keys/verify', area: 'internal', summary: 'Check an agent key (cak_)', auth: 'operator', roles: ['admin', 'service'], globalOnly: true,
    body: internal.AgentKeyVerifyRequest,
    responses: {
      200: { description: "The key's agent and its status", schema: internalAnswers.AgentKeyVerifyResponse },
      ...bodyErrors, 401: { codes: ['unauthorized', 'invalid_key'] }, 403: { codes: ['forbidden'] },
    },
  },
  caCertificates: {
    method: 'get', path: '/api/v1/internal/ca', area: 'internal', summary: "Airlock's CA bundle (PEM), to configure mTLS peers", auth: 'operator', roles: EVERY_ROLE, globalOnly: true,
    responses: { 200: { description: 'The CA bundle', schema: internalAnswers.CaResponse }, ...operatorErrors },
  },
  verifyCertificate: {
    method: 'post', path: '/api/v1/internal/certificates/verify', area: 'internal', summary: 'Check a presented agent certificate: ours, current, and its agent active', auth: 'operator', roles: ['admin', 'service'], globalOnly: true,
    body: internal.CertificateVerifyRequest,
    responses: {
      200: { description: "The certificate's agent and its status", schema: internalAnswers.CertificateVerifyResponse },
      ...bodyErrors, 401: { codes: ['unauthorized', 'invalid_certificate'] }, 403: { codes: ['forbidden'] },
    },
  },
  tunnelAuthorizedKeys: {
    method: 'post', path: '/api/v1/internal/tunnel/authorized-keys', area: 'internal', summary: "The tunnel endpoint's AuthorizedKeysCommand: active agents' keys for a fingerprint", auth: 'operator', roles: TUNNEL, globalOnly: true,
    body: internal.TunnelAuthorizedKeysRequest,
    responses: { 200: { description: 'The keys and forwarding targets', schema: internalAnswers.TunnelAuthorizedKeysResponse }, ...bodyErrors, ...operatorErrors },
  },
  tunnelHostKeys: {
    method: 'post', path: '/api/v1/internal/tunnel/host-keys', area: 'internal', summary: 'The tunnel endpoint registers its host keys (served in credentials.ssh.known_hosts)', auth: 'operator', roles: TUNNEL, globalOnly: true,
    body: internal.TunnelHostKeysRequest,
    responses: { 204: { description: 'Registered; a new key is audited as tunnel.host_key_added' }, ...bodyErrors, ...operatorErrors, 409: { codes: ['conflict'], description: 'An admin retired this host key' } },
  },
  tunnelEvent: {
    method: 'post', path: '/api/v1/internal/tunnel/events', area: 'internal', summary: 'tunnel.opened / tunnel.closed / tunnel.denied, audited', auth: 'operator', roles: TUNNEL, globalOnly: true,
    body: internal.TunnelEventRequest,
    responses: { 204: { description: 'Recorded' }, ...bodyErrors, ...operatorErrors, 404: { codes: ['not_found'], description: 'No agent with this id holds this key' } },
  },
  reportLockout: {
    method: 'post', path: '/api/v1/internal/security/lockouts', area: 'internal', summary: 'An edge reports a lockout or block it imposed (security.lockout)', auth: 'operator', roles: EDGE, globalOnly: true,
    body: internal.LockoutReportRequest,
    responses: { 202: { description: 'Recorded (once per report_id)', schema: internalAnswers.LockoutReportResponse }, ...bodyErrors, ...operatorErrors },
  },
  tunnelSessions: {
    method: 'post', path: '/api/v1/internal/tunnel/sessions', area: 'internal', summary: "The endpoint's live sessions and its lease (tunnel.connected / tunnel.disconnected on change)", auth: 'operator', roles: TUNNEL, globalOnly: true,
    body: internal.TunnelSessionsRequest,
    responses: { 200: { description: 'Recorded', schema: internalAnswers.TunnelSessionsResponse }, ...bodyErrors, ...operatorErrors },
  },
  tunnelActiveAgents: {
    method: 'post', path: '/api/v1/internal/tunnel/active-agents', area: 'internal', summary: 'Which of these connected agents are still active (live revocation)', auth: 'operator', roles: TUNNEL, globalOnly: true,
    body: internal.TunnelActiveAgentsRequest,
    responses: { 200: { description: 'The active ones', schema: internalAnswers.TunnelActiveAgentsResponse }, ...bodyErrors, ...operatorErrors },
  },

  // ---- this API's description ---------------------------------------------------
  openapi: {
    method: 'get', path: '/api/v1/openapi.json', area: 'docs', summary: 'This OpenAPI 3.1 document', auth: 'operator', roles: EVERY_ROLE,
    responses: { 200: { description: 'OpenAPI 3.1 JSON', schema: OpenApiDocument }, 401: { codes: ['unauthorized'] } },
  },
  docs: {
    method: 'get', path: '/api/v1/docs', area: 'docs', summary: 'Browsable API reference (HTML, no script)', auth: 'none',
    responses: { 200: { description: 'HTML', html: true } },
  },
} as const satisfies Record<string, RouteSpec>;

export type OperationId = keyof typeof ROUTES;
type Routes = typeof ROUTES;

/** The routes as a list, each with its operationId, in table order. */
export const ROUTE_LIST: ReadonlyArray<RouteSpec & { operationId: OperationId }> = (Object.keys(ROUTES) as OperationId[]).map((operationId) => ({
  operationId,
  ...(ROUTES[operationId] as RouteSpec),
}));

/** The success answers' body types of a route, a union over its success statuses (null: no body). */
export type ResponseOf<Op extends OperationId> = {
  [S in keyof Routes[Op]['responses']]: Routes[Op]['responses'][S] extends { schema: infer X extends v.GenericSchema }
    ? v.InferOutput<X>
    : Routes[Op]['responses'][S] extends { codes: unknown }
      ? never
      : Routes[Op]['responses'][S] extends { html: true }
        ? string
        : null;
}[keyof Routes[Op]['responses']];

/** What a caller sends as the body of a route (valibot input: before defaults and transforms). */
export type RequestOf<Op extends OperationId> = Routes[Op] extends { body: infer B extends v.GenericSchema } ? v.InferInput<B> : never;

/** What a caller sends as the query of a route. */
export type QueryOf<Op extends OperationId> = Routes[Op] extends { query: infer Q extends v.GenericSchema } ? v.InferInput<Q> : never;

/** The public routes: what the edge forwards (matched method and raw target, byte for byte). */
export type PublicOperationId = { [Op in OperationId]: Routes[Op]['area'] extends 'public' ? Op : never }[OperationId];

/** The path of a route with its parameters filled in, each percent-encoded. */
export const routePath = (op: OperationId, params: Readonly<Record<string, string>> = {}): string =>
  ROUTES[op].path.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`${op}: path parameter ${name} is missing`);
    return encodeURIComponent(value);
  });
