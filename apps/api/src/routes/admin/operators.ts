import { CreateOperatorRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { createOperator, listAllOperators } from '../../domain/operators.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerOperatorRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post('/api/v1/admin/operators', async (c) => {
    const body = await readJson(c, CreateOperatorRequest);
    return c.json(await createOperator(deps.db, deps.clock, body, c.get('operator').name, c.get('client')), 201);
  });
  app.get('/api/v1/admin/operators', async (c) => c.json(await listAllOperators(deps.db)));
};
