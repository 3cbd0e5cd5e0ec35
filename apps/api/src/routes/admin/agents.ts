import { AgentListQuery, RevokeAgentRequest, ROUTES, UpdateAgentRequest, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { changeAgentLabels, listFleetAgents, revokeAgentById } from '../../domain/agents.ts';
import type { Deps } from '../../domain/deps.ts';
import { readJson, readOptionalJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerAgentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listAgents.path, async (c) => {
    const q = readQuery(c, AgentListQuery);
    const page = await listFleetAgents(deps, c.get('operator'), {
      status: q.status,
      siteCode: q.site_code,
      tenantCode: q.tenant_code,
      labels: q.label,
      q: q.q,
      tunnel: q.tunnel,
      limit: q.limit,
      cursor: q.cursor,
    });
    return c.json(page satisfies ResponseOf<'listAgents'>);
  });
  app.patch(ROUTES.updateAgent.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, UpdateAgentRequest);
    return c.json((await changeAgentLabels(deps, id, body.labels, c.get('operator'), c.get('client'))) satisfies ResponseOf<'updateAgent'>);
  });
  app.post(ROUTES.revokeAgent.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readOptionalJson(c, RevokeAgentRequest);
    return c.json((await revokeAgentById(deps, id, body.reason ?? null, c.get('operator'), c.get('client'))) satisfies ResponseOf<'revokeAgent'>);
  });
};
