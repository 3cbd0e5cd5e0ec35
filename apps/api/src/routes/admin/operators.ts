import { CreateOperatorRequest, OperatorName, SetPasswordRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import { clearOperatorSignInFailures, setOperatorPassword } from '../../domain/console-sessions.ts';
import type { Deps } from '../../domain/deps.ts';
import { createOperator, disableOperator, listAllOperators } from '../../domain/operators.ts';
import { ApiError } from '../../errors.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerOperatorRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post('/api/v1/admin/operators', async (c) => {
    const body = await readJson(c, CreateOperatorRequest);
    return c.json(await createOperator(deps.db, deps.clock, body, c.get('operator').name, c.get('client')), 201);
  });
  app.get('/api/v1/admin/operators', async (c) => c.json(await listAllOperators(deps.db)));
  app.post('/api/v1/admin/operators/:name/disable', async (c) => {
    const name = v.safeParse(OperatorName, c.req.param('name'));
    if (!name.success) throw new ApiError('not_found', 'No such operator');
    return c.json(await disableOperator(deps.db, deps.clock, name.output, c.get('operator').name, c.get('client')));
  });
  // Issue 18: lifts a console sign-in lockout (failures stop counting); admin only.
  app.post('/api/v1/admin/operators/:name/clear-sign-in-failures', async (c) => {
    const name = v.safeParse(OperatorName, c.req.param('name'));
    if (!name.success) throw new ApiError('not_found', 'No such operator');
    return c.json(await clearOperatorSignInFailures(deps.db, deps.clock, name.output, c.get('operator').name, c.get('client')));
  });
  // Console password (for `pnpm airlock operators set-password` without DATABASE_URL); admin only.
  app.post('/api/v1/admin/operators/:name/password', async (c) => {
    const name = v.safeParse(OperatorName, c.req.param('name'));
    if (!name.success) throw new ApiError('not_found', 'No such operator');
    const body = await readJson(c, SetPasswordRequest);
    return c.json(await setOperatorPassword(deps.db, deps.clock, name.output, body.password, c.get('operator').name, c.get('client')));
  });
};
