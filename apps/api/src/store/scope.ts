/**
 * Tenant scope (issue 22), in one place: every store query that reads or
 * changes a tenant's rows takes the operator's Scope and adds the condition
 * made here. A row outside the scope is simply not found, so another tenant's
 * object answers exactly as a missing one does, and lists never show it.
 */
import { sites } from '@airlock/schema/db';
import { eq, sql, type AnyColumn, type SQL } from 'drizzle-orm';

/** The tenants an operator may see: one, or every tenant (null: a global operator). */
export interface Scope {
  tenantCode: string | null;
}

/** The api itself (enroll, verify, the sweeper): every tenant. */
export const EVERY_TENANT: Scope = { tenantCode: null };

/** For a table that carries its tenant (sites, agents, operators). */
export const tenantInScope = (scope: Scope, tenantColumn: AnyColumn): SQL | undefined =>
  scope.tenantCode === null ? undefined : eq(tenantColumn, scope.tenantCode);

/** For a table that carries a site (enrollments, pairing codes, audit rows): its site is the scope's. */
export const siteInScope = (scope: Scope, siteColumn: AnyColumn): SQL | undefined =>
  scope.tenantCode === null
    ? undefined
    : sql`${siteColumn} in (select ${sites.code} from ${sites} where ${sites.tenantCode} = ${scope.tenantCode})`;
