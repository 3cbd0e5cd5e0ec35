/**
 * A typed client for Airlock's admin and internal API: the one the operator
 * CLI uses, so tooling authors get the same types. Every method is one route
 * of the route table (@airlock/schema): its path comes from the table, its
 * body type from the route's request schema and its answer type from the
 * route's response schema (inferred, never restated). Refusals throw
 * ApiRequestError (status, catalogue code, message, field problems); an
 * unreachable api throws ApiUnreachableError.
 *
 * @example
 *   import { AirlockClient } from '@airlock/client';
 *   const airlock = new AirlockClient({ baseUrl: new URL('http://127.0.0.1:8082'), token: process.env.AIRLOCK_TOKEN ?? null });
 *   const { items } = await airlock.listPending();
 *   for (const e of items) console.log(e.id, e.site_code, e.hostname, e.fingerprint);
 */
import { ROUTES, routePath, type EnrollmentStatus, type OperationId, type QueryOf, type RequestOf, type ResponseOf } from '@airlock/schema';
import { AdminClient, type Query } from './http.ts';

export * from './http.ts';
/** The answers' types, inferred from the response schemas in @airlock/schema. */
export type {
  Agent,
  AgentKeyVerifyResponse,
  AuditEvent,
  AuditPage,
  CreatedOperator,
  CreatedPairingCode,
  Decision,
  Enrollment,
  EnrollmentKeyDescription,
  Lockout,
  Operator,
  OperatorRole,
  PairingCode,
  RevokedAgent,
  RotatedEnrollmentKey,
  Site,
  TunnelHostKeyItem,
} from '@airlock/schema';
export type { OperationId, QueryOf, RequestOf, ResponseOf };

type Enrollment = ResponseOf<'listEnrollments'>['items'][number];

/** Path parameters, the query and the body of one call. */
interface CallInput {
  params?: Record<string, string>;
  query?: Query;
  body?: unknown;
}

export class AirlockClient extends AdminClient {
  /** One route of the table: its method and path, parameters filled in and encoded. */
  call<Op extends OperationId>(op: Op, input: CallInput = {}): Promise<ResponseOf<Op>> {
    const { method } = ROUTES[op];
    // A POST without a body schema (disable, clear-sign-in-failures) still sends `{}`: the api reads JSON bodies only.
    const body = input.body ?? (method === 'post' ? {} : undefined);
    return this.request<ResponseOf<Op>>(method.toUpperCase(), routePath(op, input.params), body, input.query);
  }

  // ---- sites
  listSites = (query: QueryOf<'listSites'> = {}) => this.call('listSites', { query });
  createSite = (body: RequestOf<'createSite'>) => this.call('createSite', { body });
  updateSite = (site: string, body: RequestOf<'updateSite'>) => this.call('updateSite', { params: { site_code: site }, body });
  // ---- tenants (issue 22)
  listTenants = () => this.call('listTenants');
  createTenant = (body: RequestOf<'createTenant'>) => this.call('createTenant', { body });
  rotateEnrollmentKey = (site: string, body: RequestOf<'rotateEnrollmentKey'> = {}) => this.call('rotateEnrollmentKey', { params: { site_code: site }, body });
  describeEnrollmentKey = (site: string) => this.call('describeEnrollmentKey', { params: { site_code: site } });

  // ---- pairing codes
  createPairingCode = (body: RequestOf<'createPairingCode'>) => this.call('createPairingCode', { body });
  listPairingCodes = (query: QueryOf<'listPairingCodes'> = {}) => this.call('listPairingCodes', { query });
  revokePairingCode = (id: string) => this.call('revokePairingCode', { params: { id } });

  // ---- enrollments
  /** One page (100 by default, 500 at most), newest first; `next_cursor` continues it. */
  listEnrollments = (q: { status?: EnrollmentStatus; site_code?: string; tenant_code?: string; cursor?: string; limit?: number } = {}) =>
    this.call('listEnrollments', { query: { ...q, limit: q.limit === undefined ? undefined : String(q.limit) } });
  /** Every enrollment of one status, following the cursor (no silent truncation at a page). */
  listAllEnrollments = async (status: EnrollmentStatus): Promise<Enrollment[]> => {
    const items: Enrollment[] = [];
    let cursor: string | undefined;
    // Bounded, so a misbehaving server cannot loop us forever.
    for (let i = 0; i < 1000; i++) {
      const page = await this.listEnrollments({ status, limit: 500, ...(cursor ? { cursor } : {}) });
      items.push(...page.items);
      if (!page.next_cursor || page.next_cursor === cursor) break;
      cursor = page.next_cursor;
    }
    return items;
  };
  /** Enrollments an operator can decide on (awaiting_approval, pending_confirmation), oldest first. */
  listPending = async (): Promise<{ items: Enrollment[] }> => {
    const lists = await Promise.all((['awaiting_approval', 'pending_confirmation'] as const).map((status) => this.listAllEnrollments(status)));
    return { items: lists.flat().sort((a, b) => a.created_at.localeCompare(b.created_at)) };
  };
  approveEnrollment = (id: string, body: RequestOf<'approveEnrollment'> = {}) => this.call('approveEnrollment', { params: { id }, body });
  rejectEnrollment = (id: string, body: RequestOf<'rejectEnrollment'>) => this.call('rejectEnrollment', { params: { id }, body });

  // ---- agents and audit
  /** One page of agents (100 by default, 500 at most), newest first; `next_cursor` continues it. */
  listAgents = (query: QueryOf<'listAgents'> = {}) => this.call('listAgents', { query });
  /** Replaces an agent's labels (admin; audited). */
  updateAgent = (id: string, body: RequestOf<'updateAgent'>) => this.call('updateAgent', { params: { id }, body });
  revokeAgent = (id: string, body: RequestOf<'revokeAgent'> = {}) => this.call('revokeAgent', { params: { id }, body });
  listAudit = (q: { event_type?: string; site_code?: string; agent_id?: string; limit?: number; cursor?: string } = {}) =>
    this.call('listAudit', { query: { ...q } });

  // ---- operators and lockouts
  createOperator = (body: RequestOf<'createOperator'>) => this.call('createOperator', { body });
  listOperators = () => this.call('listOperators');
  disableOperator = (name: string) => this.call('disableOperator', { params: { name } });
  setOperatorPassword = (name: string, body: RequestOf<'setOperatorPassword'>) => this.call('setOperatorPassword', { params: { name }, body });
  listLockouts = () => this.call('listLockouts');
  clearLockout = (body: RequestOf<'clearLockout'>) => this.call('clearLockout', { body });

  // ---- internal (management server, service role)
  verifyAgentKey = (body: RequestOf<'verifyAgentKey'>) => this.call('verifyAgentKey', { body });

  // ---- the tunnel endpoint's host keys (admin; auditors list)
  listTunnelHostKeys = () => this.call('listTunnelHostKeys');
  retireTunnelHostKey = (body: RequestOf<'retireTunnelHostKey'>) => this.call('retireTunnelHostKey', { body });

  // ---- internal (the tunnel endpoint, tunnel role)
  tunnelAuthorizedKeys = (body: RequestOf<'tunnelAuthorizedKeys'>) => this.call('tunnelAuthorizedKeys', { body });
  tunnelHostKeys = (body: RequestOf<'tunnelHostKeys'>) => this.call('tunnelHostKeys', { body });
  tunnelEvent = (body: RequestOf<'tunnelEvent'>) => this.call('tunnelEvent', { body });
  tunnelSessions = (body: RequestOf<'tunnelSessions'>) => this.call('tunnelSessions', { body });
  tunnelActiveAgents = (body: RequestOf<'tunnelActiveAgents'>) => this.call('tunnelActiveAgents', { body });

  /** The api's OpenAPI 3.1 document (any operator role). */
  openApiDocument = () => this.call('openapi');
}
