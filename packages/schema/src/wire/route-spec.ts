/**
 * The shape of one entry of the route table (routes.ts), and the refusal
 * sets most entries share.
 */
import type * as v from 'valibot';
import type { ErrorCode } from './errors.ts';
import type { OperatorRole } from './vocabulary.ts';

export type HttpMethod = 'get' | 'post' | 'patch' | 'delete';
export type Area = 'public' | 'admin' | 'internal' | 'health' | 'docs';

/** A success: its schema (JSON), `html` for a page, or neither for an empty body (204). */
export interface SuccessSpec {
  description: string;
  schema?: v.GenericSchema;
  html?: true;
}
/** A refusal: the catalogue codes it may carry (each code's status is fixed by errors.ts). */
export interface RefusalSpec {
  codes: readonly ErrorCode[];
  description?: string;
}
export type ResponseSpec = SuccessSpec | RefusalSpec;

export interface RouteSpec {
  method: HttpMethod;
  /** Hono's pattern (`:id`); OpenAPI's `{id}` is derived. Public routes have no parameters (the edge matches them byte for byte). */
  path: string;
  area: Area;
  summary: string;
  /** none, the enrollment poll token, or an operator token (roles in `roles`). */
  auth: 'none' | 'poll_token' | 'operator';
  /** The operator roles allowed; every other role is refused 403 (the auth matrix checks both ways). */
  roles?: readonly OperatorRole[];
  /**
   * Issue 22: for global operators only; an operator scoped to a tenant is
   * refused 403 forbidden (the whole installation's concern: tenants, audit
   * retention, lockouts, the tunnel endpoint, the internal routes).
   */
  globalOnly?: true;
  body?: v.GenericSchema;
  bodyOptional?: boolean;
  query?: v.GenericSchema;
  /** Path parameters: name → description. */
  params?: Readonly<Record<string, string>>;
  responses: Readonly<Record<number, ResponseSpec>>;
}

export const bodyErrors = {
  400: { codes: ['invalid_request'] },
  413: { codes: ['payload_too_large'] },
  415: { codes: ['unsupported_media_type'] },
} as const;
export const operatorErrors = { 401: { codes: ['unauthorized'] }, 403: { codes: ['forbidden'] } } as const;
export const READ = ['admin', 'auditor'] as const;
export const WRITE = ['admin'] as const;
// Issue 18: the tunnel endpoint's own role; a service token no longer reaches these.
export const TUNNEL = ['admin', 'tunnel'] as const;
// Issue 20: the edges' lockout reports; an edge token reaches nothing else.
export const EDGE = ['admin', 'edge'] as const;
export const EVERY_ROLE = ['admin', 'auditor', 'service', 'tunnel', 'edge'] as const;
