import { Instant, PruneAuditRequest, SiteCode, Uuid } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import { listAudit } from '../../domain/audit.ts';
import { pruneAudit } from '../../domain/audit-retention.ts';
import type { Deps } from '../../domain/deps.ts';
import { listRefusals } from '../../domain/refusals.ts';
import { readJson, readQuery } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

const limitParam = (max: number, fallback: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}$/, `must be 1-${max}`),
      v.transform(Number),
      v.minValue(1, `must be 1-${max}`),
      v.maxValue(max, `must be 1-${max}`),
    ),
    fallback,
  );

export const AuditQuery = v.strictObject({
  event_type: v.optional(v.pipe(v.string(), v.regex(/^[a-z_.]{1,64}$/, 'is not an event type'))),
  site_code: v.optional(SiteCode),
  agent_id: v.optional(Uuid),
  limit: limitParam(200, '50'),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(40, 'is not a cursor from this API'))),
});

export const RefusalQuery = v.strictObject({
  since: v.optional(Instant),
  kind: v.optional(v.pipe(v.string(), v.regex(/^[a-z_.]{1,64}$/, 'is not a refusal kind'))),
  source_ip: v.optional(v.pipe(v.string(), v.regex(/^[0-9A-Fa-f:.]{2,45}$/, 'is not an IP address'))),
  limit: limitParam(1000, '100'),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200, 'is not a cursor from this API'))),
});

export const registerAuditRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/api/v1/admin/audit', async (c) => {
    const q = readQuery(c, AuditQuery);
    return c.json(
      await listAudit(deps, { eventType: q.event_type, siteCode: q.site_code, agentId: q.agent_id, limit: q.limit, cursor: q.cursor }),
    );
  });
  // Counted refusals (#8.1): who sent junk, what kind, how often, per minute.
  app.get('/api/v1/admin/audit/refusals', async (c) => {
    const q = readQuery(c, RefusalQuery);
    return c.json(await listRefusals(deps, { since: q.since, kind: q.kind, sourceIp: q.source_ip, limit: q.limit, cursor: q.cursor }));
  });
  // Retention: admin only (requireOperator lets an auditor GET, never POST).
  app.post('/api/v1/admin/audit/prune', async (c) => {
    const body = await readJson(c, PruneAuditRequest);
    return c.json(await pruneAudit(deps, body.before, c.get('operator'), c.get('client')));
  });
};
