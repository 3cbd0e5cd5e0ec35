import { AgentChallengeRequest, AgentCredentialsRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { issueAgentChallenge, renewAgentCredentials } from '../../domain/agent-credentials.ts';
import type { Deps } from '../../domain/deps.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

/** v1.1 agent routes: public, reached through the edge like enrollment. */
export const registerAgentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.agentChallenge.path, async (c) => {
    const body = await readJson(c, AgentChallengeRequest, 'agent.invalid');
    return c.json((await issueAgentChallenge(deps, body, c.get('client'))) satisfies ResponseOf<'agentChallenge'>, 201);
  });
  app.post(ROUTES.agentCredentials.path, async (c) => {
    const body = await readJson(c, AgentCredentialsRequest, 'agent.invalid');
    return c.json((await renewAgentCredentials(deps, body, c.get('client'))) satisfies ResponseOf<'agentCredentials'>, 200);
  });
};
