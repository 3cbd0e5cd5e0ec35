import { SiteCode, Uuid } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import { listAudit } from '../../domain/audit.ts';
import type { Deps } from '../../domain/deps.ts';
import { readQuery } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const AuditQuery = v.strictObject({
  event_type: v.optional(v.pipe(v.string(), v.regex(/^[a-z_.]{1,64}$/, 'is not an event type'))),
  site_code: v.optional(SiteCode),
  agent_id: v.optional(Uuid),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, 'must be 1-200'), v.transform(Number), v.minValue(1, 'must be 1-200'), v.maxValue(200, 'must be 1-200')),
    '50',
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(40, 'is not a cursor from this API'))),
});

export const registerAuditRoutes = (app: Hono<AppEnv>, deps: Deps) =>
  app.get('/api/v1/admin/audit', async (c) => {
    const q = readQuery(c, AuditQuery);
    return c.json(
      await listAudit(deps, { eventType: q.event_type, siteCode: q.site_code, agentId: q.agent_id, limit: q.limit, cursor: q.cursor }),
    );
  });
