import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { requireOperator } from '../../http/auth.ts';
import type { AppEnv } from '../../http/context.ts';
import { registerAgentRoutes } from './agents.ts';
import { registerAuditRoutes } from './audit.ts';
import { registerEnrollmentRoutes } from './enrollments.ts';
import { registerLockoutRoutes } from './lockouts.ts';
import { registerOperatorRoutes } from './operators.ts';
import { registerPairingCodeRoutes } from './pairing-codes.ts';
import { registerSiteRoutes } from './sites.ts';
import { registerTunnelHostKeyRoutes } from './tunnel-host-keys.ts';
import { registerWebhookRoutes } from './webhooks.ts';

export const registerAdminRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.use('/api/v1/admin/*', requireOperator(deps, 'admin'));
  registerSiteRoutes(app, deps);
  registerPairingCodeRoutes(app, deps);
  registerEnrollmentRoutes(app, deps);
  registerAgentRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerOperatorRoutes(app, deps);
  registerLockoutRoutes(app, deps);
  registerTunnelHostKeyRoutes(app, deps);
  registerWebhookRoutes(app, deps);
};
