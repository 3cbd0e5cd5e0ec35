import { AgentListQuery, RevokeAgentRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { listAllAgents, revokeAgentById } from '../../domain/agents.ts';
import type { Deps } from '../../domain/deps.ts';
import { readOptionalJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerAgentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listAgents.path, async (c) => {
    const q = readQuery(c, AgentListQuery);
    return c.json((await listAllAgents(deps, q.status, q.tunnel)) satisfies ResponseOf<'listAgents'>);
  });
  app.post(ROUTES.revokeAgent.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readOptionalJson(c, RevokeAgentRequest);
    return c.json((await revokeAgentById(deps, id, body.reason ?? null, c.get('operator'), c.get('client'))) satisfies ResponseOf<'revokeAgent'>);
  });
};
