import { ClearLockoutRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { liftLockout, listActiveLockouts } from '../../domain/lockouts.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerLockoutRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listLockouts.path, async (c) => c.json((await listActiveLockouts(deps)) satisfies ResponseOf<'listLockouts'>));
  app.post(ROUTES.clearLockout.path, async (c) => {
    const body = await readJson(c, ClearLockoutRequest);
    return c.json((await liftLockout(deps, body.key, c.get('operator'), c.get('client'))) satisfies ResponseOf<'clearLockout'>);
  });
};
