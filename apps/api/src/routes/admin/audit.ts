import { AuditQuery, PruneAuditRequest, RefusalQuery, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { listAudit } from '../../domain/audit.ts';
import { pruneAudit } from '../../domain/audit-retention.ts';
import type { Deps } from '../../domain/deps.ts';
import { listRefusals } from '../../domain/refusals.ts';
import { readJson, readQuery } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerAuditRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listAudit.path, async (c) => {
    const q = readQuery(c, AuditQuery);
    const page = await listAudit(deps, c.get('operator'), { eventType: q.event_type, siteCode: q.site_code, agentId: q.agent_id, limit: q.limit, cursor: q.cursor });
    return c.json(page satisfies ResponseOf<'listAudit'>);
  });
  // Counted refusals (#8.1): who sent junk, what kind, how often, per minute.
  app.get(ROUTES.listRefusals.path, async (c) => {
    const q = readQuery(c, RefusalQuery);
    const page = await listRefusals(deps, { since: q.since, kind: q.kind, sourceIp: q.source_ip, limit: q.limit, cursor: q.cursor });
    return c.json(page satisfies ResponseOf<'listRefusals'>);
  });
  // Retention: admin only (requireOperator lets an auditor GET, never POST).
  app.post(ROUTES.pruneAudit.path, async (c) => {
    const body = await readJson(c, PruneAuditRequest);
    return c.json((await pruneAudit(deps, body.before, c.get('operator'), c.get('client'))) satisfies ResponseOf<'pruneAudit'>);
  });
};
