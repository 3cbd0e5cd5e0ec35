/** @jsxImportSource hono/jsx */
/** The console's pages (GET). Read-only: every operator role may see them. */
import { SiteCode, TenantCode, Uuid } from '@airlock/schema';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { listFleetAgents } from '../domain/agents.ts';
import { listAudit } from '../domain/audit.ts';
import { listAllSites, listAllTenants } from '../domain/sites.ts';
import type { Deps } from '../domain/deps.ts';
import type { AppEnv } from '../http/context.ts';
import type { Scope } from '../store/scope.ts';
import { loadActiveCodes, loadLockouts, loadPending, loadSites, loadWebhooks, siteCodes } from './data.ts';
import { parseWith } from './forms.ts';
import { requireAdmin, sessionCsrfToken } from './session.ts';
import { AGENT_STATUS_FILTERS, AgentsPage, TUNNEL_FILTERS } from './views/agents.tsx';
import { AuditPage } from './views/audit.tsx';
import { CodesPage } from './views/codes.tsx';
import { LockoutsPage } from './views/lockouts.tsx';
import { PendingPage, PendingRows } from './views/pending.tsx';
import { SitesPage } from './views/sites.tsx';
import { WebhooksPage } from './views/webhooks.tsx';
import { sendPage } from './render.ts';
import type { TenantChoice } from './views/layout.tsx';

/** Fixed texts for `?done=`: the query can only pick one, never inject one. */
const NOTICES: Record<string, string> = {
  approved: 'Approved. The agent collects its credentials on its next poll.',
  approved_separate: 'Approved as a separate agent. The existing agent keeps its key; the new one collects its credentials on its next poll.',
  rejected: 'Rejected. The agent is told the reason on its next poll.',
  agent_revoked: 'Agent revoked. Its keys stopped working.',
  code_revoked: 'Pairing code revoked.',
  site_created: 'Site created.',
  lockout_lifted: 'Lockout lifted.',
  webhook_tested: 'Test event queued; its delivery shows below within seconds.',
  webhook_deleted: 'Webhook deleted.',
};

export const frame = (c: Context<AppEnv>, deps: Deps) => {
  const session = c.get('consoleSession');
  const done = c.req.query('done');
  return {
    session,
    csrf: sessionCsrfToken(deps, session),
    canAct: session.operator.role === 'admin',
    notice: done && Object.hasOwn(NOTICES, done) ? { kind: 'ok' as const, text: NOTICES[done] ?? '' } : null,
  };
};

// Empty form fields mean "no filter".
const blankToUndefined = (s: string | undefined) => (s ? s : undefined);
const Cursor = v.optional(v.pipe(v.string(), v.maxLength(200, 'is not a cursor')));
const AgentsQuery = v.object({
  site: v.optional(SiteCode),
  status: v.optional(v.picklist(AGENT_STATUS_FILTERS, 'is not an agent status')),
  label: v.optional(v.pipe(v.string(), v.maxLength(161), v.regex(/^[a-z0-9_.-]{1,32}:[\x20-\x7e]{0,128}$/, 'must be key:value'))),
  hostname: v.optional(v.pipe(v.string(), v.maxLength(128), v.regex(/^[\x21-\x7e]{1,128}$/, 'is not a hostname prefix or fingerprint'))),
  cursor: Cursor,
  rotate: v.optional(SiteCode),
  tunnel: v.optional(v.picklist(TUNNEL_FILTERS, 'must be connected or disconnected')),
});

/**
 * What a page shows, and the switcher that says so (issue 22). A scoped
 * operator sees its tenant, whatever the URL says; a global operator sees
 * every tenant, or the one `?tenant=` picks (narrowing its scope to it, so
 * every list on the page goes through the same scoped store queries).
 */
const pageScope = async (c: Context<AppEnv>, deps: Deps): Promise<{ scope: Scope; tenant: TenantChoice; tenantParam?: string }> => {
  const op = c.get('consoleSession').operator;
  if (op.tenantCode !== null) return { scope: op, tenant: { options: null, current: op.tenantCode } };
  const options = (await listAllTenants(deps, op)).items.map((t) => t.tenant_code);
  const asked = v.safeParse(TenantCode, c.req.query('tenant') ?? '');
  const current = asked.success && options.includes(asked.output) ? asked.output : null;
  return { scope: { tenantCode: current }, tenant: { options, current }, tenantParam: current ?? undefined };
};
const AuditQuery = v.object({
  event_type: v.optional(v.pipe(v.string(), v.regex(/^[a-z_.]{1,64}$/, 'is not an event type'))),
  site_code: v.optional(SiteCode),
  agent_id: v.optional(Uuid),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(40, 'is not a cursor'))),
});

export const registerPageRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/console', (c) => c.redirect('/console/pending', 303));
  app.get('/console/', (c) => c.redirect('/console/pending', 303));

  app.get('/console/pending', async (c) => {
    const f = frame(c, deps);
    const { scope, tenant, tenantParam } = await pageScope(c, deps);
    const cursor = parseWith(v.object({ cursor: Cursor }), { cursor: blankToUndefined(c.req.query('cursor')) }).cursor;
    const pending = await loadPending(deps, scope, { cursor });
    return sendPage(c, <PendingPage {...f} tenant={tenant} {...pending} cursor={cursor} filter={{ tenant: tenantParam }} />);
  });

  // The live refresh: only the table body (of the first page), fetched by the page script every few seconds.
  app.get('/console/pending/rows', async (c) => {
    const f = frame(c, deps);
    const { scope } = await pageScope(c, deps);
    const { items, collisions } = await loadPending(deps, scope);
    return c.html(<PendingRows items={items} csrf={f.csrf} canAct={f.canAct} collisions={collisions} />);
  });

  app.get('/console/pairing-codes', async (c) => {
    const f = frame(c, deps);
    const { scope, tenant, tenantParam } = await pageScope(c, deps);
    const cursor = parseWith(v.object({ cursor: Cursor }), { cursor: blankToUndefined(c.req.query('cursor')) }).cursor;
    const [codes, sites] = await Promise.all([loadActiveCodes(deps, scope, cursor), siteCodes(deps, scope)]);
    const paging = { nextCursor: codes.next_cursor, paged: cursor !== undefined, filter: { tenant: tenantParam } };
    return sendPage(c, <CodesPage {...f} tenant={tenant} items={codes.items} sites={sites} created={null} paging={paging} />);
  });

  app.get('/console/agents', async (c) => {
    const f = frame(c, deps);
    const { scope, tenant, tenantParam } = await pageScope(c, deps);
    const q = parseWith(AgentsQuery, {
      site: blankToUndefined(c.req.query('site')),
      status: blankToUndefined(c.req.query('status')),
      label: blankToUndefined(c.req.query('label')?.trim()),
      hostname: blankToUndefined(c.req.query('hostname')?.trim()),
      cursor: blankToUndefined(c.req.query('cursor')),
      rotate: blankToUndefined(c.req.query('rotate')),
      tunnel: blankToUndefined(c.req.query('tunnel')),
    });
    const [page, sites] = await Promise.all([
      listFleetAgents(deps, scope, { status: q.status, siteCode: q.site, labels: q.label ? [q.label] : undefined, q: q.hostname, tunnel: q.tunnel, cursor: q.cursor, limit: 100 }),
      listAllSites(deps, scope, { limit: 500 }),
    ]);
    // The hint names only a real auto site: the query can pick one, never invent one.
    const rotateHint = q.rotate && sites.items.some((s) => s.site_code === q.rotate && s.policy === 'auto') ? q.rotate : null;
    const filter = { tenant: tenantParam, site: q.site, status: q.status, label: q.label, hostname: q.hostname, tunnel: q.tunnel };
    return sendPage(
      c,
      <AgentsPage
        {...f}
        tenant={tenant}
        items={page.items}
        sites={sites.items.map((s) => s.site_code)}
        filter={filter}
        paging={{ nextCursor: page.next_cursor, paged: q.cursor !== undefined }}
        rotateHint={rotateHint}
      />,
    );
  });

  app.get('/console/sites', async (c) => {
    const f = frame(c, deps);
    const { scope, tenant, tenantParam } = await pageScope(c, deps);
    const cursor = parseWith(v.object({ cursor: Cursor }), { cursor: blankToUndefined(c.req.query('cursor')) }).cursor;
    const sites = await loadSites(deps, scope, { cursor });
    const paging = { nextCursor: sites.nextCursor, paged: cursor !== undefined, filter: { tenant: tenantParam } };
    return sendPage(c, <SitesPage {...f} tenant={tenant} items={sites.items} rotated={null} paging={paging} />);
  });

  app.get('/console/audit', async (c) => {
    const f = frame(c, deps);
    const { scope, tenant, tenantParam } = await pageScope(c, deps);
    const q = parseWith(AuditQuery, {
      event_type: blankToUndefined(c.req.query('event_type')?.trim()),
      site_code: blankToUndefined(c.req.query('site_code')?.trim()),
      agent_id: blankToUndefined(c.req.query('agent_id')?.trim()),
      cursor: blankToUndefined(c.req.query('cursor')),
    });
    const page = await listAudit(deps, scope, { eventType: q.event_type, siteCode: q.site_code, agentId: q.agent_id, limit: 50, cursor: q.cursor });
    const filter = { tenant: tenantParam, event_type: q.event_type, site_code: q.site_code, agent_id: q.agent_id };
    return sendPage(c, <AuditPage {...f} tenant={tenant} items={page.items} nextCursor={page.next_cursor} filter={filter} paged={q.cursor !== undefined} />);
  });

  // Issue 20: admins only, like the admin API's webhook writes (a URL may carry a receiver's token).
  app.get('/console/webhooks', async (c) => {
    requireAdmin(c);
    const f = frame(c, deps);
    const [items, sites] = await Promise.all([loadWebhooks(deps, c.get('operator')), siteCodes(deps, c.get('operator'))]);
    return sendPage(c, <WebhooksPage {...f} items={items} sites={sites} created={null} />);
  });

  app.get('/console/lockouts', async (c) => {
    const f = frame(c, deps);
    return sendPage(c, <LockoutsPage {...f} state={await loadLockouts(deps)} />);
  });
};
