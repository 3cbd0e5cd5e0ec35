import { AGENT_STATUSES, RevokeAgentRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import { listAllAgents, revokeAgentById } from '../../domain/agents.ts';
import type { Deps } from '../../domain/deps.ts';
import { readOptionalJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const ListQuery = v.strictObject({ status: v.optional(v.picklist(AGENT_STATUSES, 'is not an agent status')) });

export const registerAgentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/api/v1/admin/agents', async (c) => c.json(await listAllAgents(deps, readQuery(c, ListQuery).status)));
  app.post('/api/v1/admin/agents/:id/revoke', async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readOptionalJson(c, RevokeAgentRequest);
    return c.json(await revokeAgentById(deps, id, body.reason ?? null, c.get('operator'), c.get('client')));
  });
};
