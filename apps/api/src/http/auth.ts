import { ROUTE_LIST, type OperatorRole } from '@airlock/schema';
import type { MiddlewareHandler } from 'hono';
import { authenticateOperator } from '../domain/operators.ts';
import type { Deps } from '../domain/deps.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv } from './context.ts';

/** `Bearer <token>`, case-insensitive scheme, exactly one token; null otherwise. */
export const bearerToken = (header: string | undefined): string | null => {
  const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/i.exec(header ?? '');
  return m?.[1] ?? null;
};

const TUNNEL_ROUTES = '/api/v1/internal/tunnel/';
const CA_BUNDLE = '/api/v1/internal/ca';
const LOCKOUT_REPORTS = '/api/v1/internal/security/lockouts';

/**
 * Operator authentication and role check for the admin and internal routes.
 * admin: everything; auditor: GET everywhere (admin lists, the internal CA bundle);
 * service: internal routes except the tunnel endpoint's; tunnel: the tunnel
 * endpoint's routes only (and the CA bundle, open to every role). Issue 18: a
 * service token could add a host key that every agent then trusts.
 * `any`: every role (the API description, readable by all operators).
 */
const internalAllowed = (role: OperatorRole, method: string, path: string): boolean => {
  const tunnelRoute = path.startsWith(TUNNEL_ROUTES);
  // Issue 20: an edge's token reports lockouts and nothing else; a service token cannot fake them.
  if (role === 'edge') return path === LOCKOUT_REPORTS || (method === 'GET' && path === CA_BUNDLE);
  if (path === LOCKOUT_REPORTS) return false;
  if (role === 'service') return !tunnelRoute;
  if (role === 'tunnel') return tunnelRoute || (method === 'GET' && path === CA_BUNDLE);
  return false;
};

/** The routes a tenant-scoped operator may not use (the table's `globalOnly`), as method + path matchers. */
const GLOBAL_ONLY = ROUTE_LIST.filter((r) => r.globalOnly).map((r) => ({
  method: r.method.toUpperCase(),
  path: new RegExp(`^${r.path.replace(/:[A-Za-z_]+/g, '[^/]+')}$`),
}));
const globalOnly = (method: string, path: string) => GLOBAL_ONLY.some((r) => (r.method === method || (r.method === 'GET' && method === 'HEAD')) && r.path.test(path));

export const requireOperator =
  (deps: Deps, area: 'admin' | 'internal' | 'any'): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    const operator = token ? await authenticateOperator(deps.db, token) : null;
    if (!operator) {
      throw new ApiError('unauthorized', 'A valid operator token is required', {
        audit: { eventType: 'admin.unauthorized', anonymous: true, details: { method: c.req.method, path: c.req.path.slice(0, 200) } },
      });
    }
    c.set('operator', operator);
    const allowed =
      operator.role === 'admin' ||
      area === 'any' ||
      // An auditor reads (GET) everywhere: admin lists, and the internal CA bundle.
      (operator.role === 'auditor' && (c.req.method === 'GET' || c.req.method === 'HEAD')) ||
      (area === 'internal' && internalAllowed(operator.role, c.req.method, c.req.path));
    if (!allowed) {
      throw new ApiError('forbidden', `The ${operator.role} role may not do this`, {
        audit: { eventType: 'admin.forbidden', details: { method: c.req.method, path: c.req.path.slice(0, 200), role: operator.role } },
      });
    }
    // Issue 22: installation-wide routes are for global operators; a scoped one's scope is applied by the domain.
    if (operator.tenantCode !== null && globalOnly(c.req.method, c.req.path)) {
      throw new ApiError('forbidden', 'Only a global operator may do this', {
        audit: {
          eventType: 'admin.forbidden',
          details: { method: c.req.method, path: c.req.path.slice(0, 200), role: operator.role, tenant_code: operator.tenantCode },
        },
      });
    }
    await next();
  };
