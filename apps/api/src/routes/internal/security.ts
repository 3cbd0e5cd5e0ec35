/** The edges' lockout reports (role edge; behind the /api/v1/internal/* guard, see http/auth.ts). */
import { LockoutReportRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { recordLockoutReport } from '../../domain/lockout-reports.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerSecurityRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.reportLockout.path, async (c) => {
    const body = await readJson(c, LockoutReportRequest);
    return c.json((await recordLockoutReport(deps, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'reportLockout'>, 202);
  });
};
