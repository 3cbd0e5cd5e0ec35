import { ClearLockoutRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { liftLockout, listActiveLockouts } from '../../domain/lockouts.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerLockoutRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/api/v1/admin/lockouts', async (c) => c.json(await listActiveLockouts(deps)));
  app.post('/api/v1/admin/lockouts/clear', async (c) => {
    const body = await readJson(c, ClearLockoutRequest);
    return c.json(await liftLockout(deps, body.key, c.get('operator'), c.get('client')));
  });
};
