/**
 * A typed client for Airlock's admin and internal API: the one the operator
 * CLI uses, so tooling authors get the same types. Request bodies are typed
 * from the valibot schemas the api parses them with; answers from the types
 * in types.ts. Refusals throw ApiRequestError (status, catalogue code,
 * message, field problems); an unreachable api throws ApiUnreachableError.
 *
 * @example
 *   import { AirlockClient } from '@airlock/client';
 *   const airlock = new AirlockClient({ baseUrl: new URL('http://127.0.0.1:8082'), token: process.env.AIRLOCK_TOKEN ?? null });
 *   const { items } = await airlock.listPending();
 *   for (const e of items) console.log(e.id, e.site_code, e.hostname, e.fingerprint);
 */
import type {
  AgentKeyVerifyRequest,
  ApproveRequest,
  ClearLockoutRequest,
  CreateOperatorRequest,
  CreatePairingCodeRequest,
  CreateSiteRequest,
  EnrollmentStatus,
  RejectRequest,
  RevokeAgentRequest,
  RotateEnrollmentKeyRequest,
  RetireHostKeyRequest,
  TunnelActiveAgentsRequest,
  TunnelActiveAgentsResponse,
  TunnelAuthorizedKeysRequest,
  TunnelAuthorizedKeysResponse,
  TunnelEventRequest,
  TunnelHostKeyItem,
  TunnelHostKeysRequest,
} from '@airlock/schema';
import type { InferInput } from 'valibot';
import { AdminClient } from './http.ts';
import type {
  Agent,
  RevokedAgent,
  AgentKeyVerifyResponse,
  AuditPage,
  CreatedOperator,
  CreatedPairingCode,
  Decision,
  Enrollment,
  EnrollmentKeyDescription,
  Lockout,
  Operator,
  Page,
  PairingCode,
  RotatedEnrollmentKey,
  Site,
} from './types.ts';

export * from './http.ts';
export type * from './types.ts';

const seg = encodeURIComponent;

export interface AuditQuery {
  event_type?: string;
  site_code?: string;
  agent_id?: string;
  limit?: number;
  cursor?: string;
}

export class AirlockClient extends AdminClient {
  // ---- sites
  listSites = () => this.get<Page<Site>>('/api/v1/admin/sites');
  createSite = (body: InferInput<typeof CreateSiteRequest>) => this.post<Site>('/api/v1/admin/sites', body);
  rotateEnrollmentKey = (site: string, body: InferInput<typeof RotateEnrollmentKeyRequest> = {}) =>
    this.post<RotatedEnrollmentKey>(`/api/v1/admin/sites/${seg(site)}/enrollment-key`, body);
  describeEnrollmentKey = (site: string) => this.get<EnrollmentKeyDescription>(`/api/v1/admin/sites/${seg(site)}/enrollment-key`);

  // ---- pairing codes
  createPairingCode = (body: InferInput<typeof CreatePairingCodeRequest>) => this.post<CreatedPairingCode>('/api/v1/admin/pairing-codes', body);
  listPairingCodes = (q: { status?: PairingCode['status'] } = {}) => this.get<Page<PairingCode>>('/api/v1/admin/pairing-codes', q);
  revokePairingCode = (id: string) => this.delete<null>(`/api/v1/admin/pairing-codes/${seg(id)}`);

  // ---- enrollments
  /** One page (500 at most), newest first; `next_cursor` continues it. */
  listEnrollments = (q: { status?: EnrollmentStatus; cursor?: string; limit?: number } = {}) =>
    this.get<Page<Enrollment>>('/api/v1/admin/enrollments', q);
  /** Every enrollment of one status, following the cursor (no silent truncation at a page). */
  listAllEnrollments = async (status: EnrollmentStatus): Promise<Enrollment[]> => {
    const items: Enrollment[] = [];
    let cursor: string | undefined;
    // Bounded, so a misbehaving server cannot loop us forever.
    for (let i = 0; i < 1000; i++) {
      const page = await this.listEnrollments({ status, ...(cursor ? { cursor } : {}) });
      items.push(...page.items);
      if (!page.next_cursor || page.next_cursor === cursor) break;
      cursor = page.next_cursor;
    }
    return items;
  };
  /** Enrollments an operator can decide on (awaiting_approval, pending_confirmation), oldest first. */
  listPending = async (): Promise<Page<Enrollment>> => {
    const lists = await Promise.all((['awaiting_approval', 'pending_confirmation'] as const).map((status) => this.listAllEnrollments(status)));
    return { items: lists.flat().sort((a, b) => a.created_at.localeCompare(b.created_at)) };
  };
  approveEnrollment = (id: string, body: InferInput<typeof ApproveRequest> = {}) =>
    this.post<Decision>(`/api/v1/admin/enrollments/${seg(id)}/approve`, body);
  rejectEnrollment = (id: string, body: InferInput<typeof RejectRequest>) =>
    this.post<Decision>(`/api/v1/admin/enrollments/${seg(id)}/reject`, body);

  // ---- agents and audit
  listAgents = (q: { status?: string } = {}) => this.get<Page<Agent>>('/api/v1/admin/agents', q);
  revokeAgent = (id: string, body: InferInput<typeof RevokeAgentRequest> = {}) => this.post<RevokedAgent>(`/api/v1/admin/agents/${seg(id)}/revoke`, body);
  listAudit = (q: AuditQuery = {}) => this.get<AuditPage>('/api/v1/admin/audit', { ...q });

  // ---- operators and lockouts
  createOperator = (body: InferInput<typeof CreateOperatorRequest>) => this.post<CreatedOperator>('/api/v1/admin/operators', body);
  listOperators = () => this.get<Page<Operator>>('/api/v1/admin/operators');
  disableOperator = (name: string) => this.post<Operator>(`/api/v1/admin/operators/${seg(name)}/disable`, {});
  listLockouts = () => this.get<Page<Lockout>>('/api/v1/admin/lockouts');
  clearLockout = (body: InferInput<typeof ClearLockoutRequest>) => this.post<{ key: string; cleared?: boolean }>('/api/v1/admin/lockouts/clear', body);

  // ---- internal (management server, service role)
  verifyAgentKey = (body: InferInput<typeof AgentKeyVerifyRequest>) => this.post<AgentKeyVerifyResponse>('/api/v1/internal/agent-keys/verify', body);

  // ---- the tunnel endpoint's host keys (admin; auditors list)
  listTunnelHostKeys = () => this.get<Page<TunnelHostKeyItem>>('/api/v1/admin/tunnel/host-keys');
  retireTunnelHostKey = (body: InferInput<typeof RetireHostKeyRequest>) => this.post<TunnelHostKeyItem>('/api/v1/admin/tunnel/host-keys/retire', body);

  // ---- internal (the tunnel endpoint, tunnel role)
  tunnelAuthorizedKeys = (body: InferInput<typeof TunnelAuthorizedKeysRequest>) =>
    this.post<TunnelAuthorizedKeysResponse>('/api/v1/internal/tunnel/authorized-keys', body);
  tunnelHostKeys = (body: InferInput<typeof TunnelHostKeysRequest>) => this.post<null>('/api/v1/internal/tunnel/host-keys', body);
  tunnelEvent = (body: InferInput<typeof TunnelEventRequest>) => this.post<null>('/api/v1/internal/tunnel/events', body);
  tunnelActiveAgents = (body: InferInput<typeof TunnelActiveAgentsRequest>) =>
    this.post<TunnelActiveAgentsResponse>('/api/v1/internal/tunnel/active-agents', body);

  /** The api's OpenAPI 3.1 document (any operator role). */
  openApiDocument = () => this.get<Record<string, unknown>>('/api/v1/openapi.json');
}
