import { AgentKeyVerifyRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { verifyAgentKey } from '../../domain/agents.ts';
import type { Deps } from '../../domain/deps.ts';
import { requireOperator } from '../../http/auth.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';
import { registerCertificateRoutes } from './certificates.ts';
import { registerSecurityRoutes } from './security.ts';

export const registerInternalRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.use('/api/v1/internal/*', requireOperator(deps, 'internal'));
  app.post(ROUTES.verifyAgentKey.path, async (c) => {
    const body = await readJson(c, AgentKeyVerifyRequest);
    return c.json((await verifyAgentKey(deps, body.agent_key)) satisfies ResponseOf<'verifyAgentKey'>);
  });
  registerCertificateRoutes(app, deps);
  registerSecurityRoutes(app, deps);
};
