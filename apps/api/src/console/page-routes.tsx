/** @jsxImportSource hono/jsx */
/** The console's pages (GET). Read-only: every operator role may see them. */
import { SiteCode, Uuid } from '@airlock/schema';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { listAllAgents } from '../domain/agents.ts';
import { listAudit } from '../domain/audit.ts';
import { listAllSites } from '../domain/sites.ts';
import type { Deps } from '../domain/deps.ts';
import type { AppEnv } from '../http/context.ts';
import { loadActiveCodes, loadLockouts, loadPending, loadSites, siteCodes } from './data.ts';
import { parseWith } from './forms.ts';
import { sessionCsrfToken } from './session.ts';
import { AGENT_STATUS_FILTERS, AgentsPage, TUNNEL_FILTERS } from './views/agents.tsx';
import { AuditPage } from './views/audit.tsx';
import { CodesPage } from './views/codes.tsx';
import { LockoutsPage } from './views/lockouts.tsx';
import { PendingPage, PendingRows } from './views/pending.tsx';
import { SitesPage } from './views/sites.tsx';
import { sendPage } from './render.ts';

/** Fixed texts for `?done=`: the query can only pick one, never inject one. */
const NOTICES: Record<string, string> = {
  approved: 'Approved. The agent collects its credentials on its next poll.',
  rejected: 'Rejected. The agent is told the reason on its next poll.',
  agent_revoked: 'Agent revoked. Its keys stopped working.',
  code_revoked: 'Pairing code revoked.',
  site_created: 'Site created.',
  lockout_lifted: 'Lockout lifted.',
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
const AgentsQuery = v.object({
  site: v.optional(SiteCode),
  status: v.optional(v.picklist(AGENT_STATUS_FILTERS, 'is not an agent status')),
  rotate: v.optional(SiteCode),
  tunnel: v.optional(v.picklist(TUNNEL_FILTERS, 'must be connected or disconnected')),
});
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
    const { items, collisions } = await loadPending(deps);
    return sendPage(c, <PendingPage {...f} items={items} collisions={collisions} />);
  });

  // The live refresh: only the table body, fetched by the page script every few seconds.
  app.get('/console/pending/rows', async (c) => {
    const f = frame(c, deps);
    const { items, collisions } = await loadPending(deps);
    return c.html(<PendingRows items={items} csrf={f.csrf} canAct={f.canAct} collisions={collisions} />);
  });

  app.get('/console/pairing-codes', async (c) => {
    const f = frame(c, deps);
    const [items, sites] = await Promise.all([loadActiveCodes(deps), siteCodes(deps)]);
    return sendPage(c, <CodesPage {...f} items={items} sites={sites} created={null} />);
  });

  app.get('/console/agents', async (c) => {
    const f = frame(c, deps);
    const q = parseWith(AgentsQuery, {
      site: blankToUndefined(c.req.query('site')),
      status: blankToUndefined(c.req.query('status')),
      rotate: blankToUndefined(c.req.query('rotate')),
      tunnel: blankToUndefined(c.req.query('tunnel')),
    });
    const [all, sites] = await Promise.all([listAllAgents(deps, q.status, q.tunnel), listAllSites(deps)]);
    const items = q.site ? all.items.filter((a) => a.site_code === q.site) : all.items;
    // The hint names only a real auto site: the query can pick one, never invent one.
    const rotateHint = q.rotate && sites.items.some((s) => s.site_code === q.rotate && s.policy === 'auto') ? q.rotate : null;
    return sendPage(
      c,
      <AgentsPage {...f} items={items} sites={sites.items.map((s) => s.site_code)} filter={{ site: q.site, status: q.status, tunnel: q.tunnel }} rotateHint={rotateHint} />,
    );
  });

  app.get('/console/sites', async (c) => {
    const f = frame(c, deps);
    return sendPage(c, <SitesPage {...f} items={await loadSites(deps)} rotated={null} />);
  });

  app.get('/console/audit', async (c) => {
    const f = frame(c, deps);
    const q = parseWith(AuditQuery, {
      event_type: blankToUndefined(c.req.query('event_type')?.trim()),
      site_code: blankToUndefined(c.req.query('site_code')?.trim()),
      agent_id: blankToUndefined(c.req.query('agent_id')?.trim()),
      cursor: blankToUndefined(c.req.query('cursor')),
    });
    const page = await listAudit(deps, { eventType: q.event_type, siteCode: q.site_code, agentId: q.agent_id, limit: 50, cursor: q.cursor });
    const filter = { event_type: q.event_type, site_code: q.site_code, agent_id: q.agent_id };
    return sendPage(c, <AuditPage {...f} items={page.items} nextCursor={page.next_cursor} filter={filter} paged={q.cursor !== undefined} />);
  });

  app.get('/console/lockouts', async (c) => {
    const f = frame(c, deps);
    return sendPage(c, <LockoutsPage {...f} state={await loadLockouts(deps)} />);
  });
};
