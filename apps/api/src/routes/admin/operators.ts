import { CreateOperatorRequest, OperatorName, ROUTES, SetPasswordRequest, type ResponseOf } from '@airlock/schema';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { clearOperatorSignInFailures, setOperatorPassword } from '../../domain/console-sessions.ts';
import type { Deps } from '../../domain/deps.ts';
import { createOperator, disableOperator, listAllOperators } from '../../domain/operators.ts';
import { ApiError } from '../../errors.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

/** A name that cannot be an operator's names none: 404, as for an unknown one. */
const nameParam = (c: Context) => {
  const name = v.safeParse(OperatorName, c.req.param('name'));
  if (!name.success) throw new ApiError('not_found', 'No such operator');
  return name.output;
};

export const registerOperatorRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.createOperator.path, async (c) => {
    const body = await readJson(c, CreateOperatorRequest);
    return c.json((await createOperator(deps.db, deps.clock, body, c.get('operator').name, c.get('client'), c.get('operator'))) satisfies ResponseOf<'createOperator'>, 201);
  });
  app.get(ROUTES.listOperators.path, async (c) => c.json((await listAllOperators(deps.db, c.get('operator'))) satisfies ResponseOf<'listOperators'>));
  app.post(ROUTES.disableOperator.path, async (c) =>
    c.json((await disableOperator(deps.db, deps.clock, nameParam(c), c.get('operator').name, c.get('client'), c.get('operator'))) satisfies ResponseOf<'disableOperator'>),
  );
  // Issue 18: lifts a console sign-in lockout (failures stop counting); admin only.
  app.post(ROUTES.clearOperatorSignInFailures.path, async (c) => {
    const cleared = await clearOperatorSignInFailures(deps.db, deps.clock, nameParam(c), c.get('operator').name, c.get('client'), c.get('operator'));
    return c.json(cleared satisfies ResponseOf<'clearOperatorSignInFailures'>);
  });
  // Console password (for `pnpm airlock operators set-password` without DATABASE_URL); admin only.
  app.post(ROUTES.setOperatorPassword.path, async (c) => {
    const name = nameParam(c);
    const body = await readJson(c, SetPasswordRequest);
    return c.json((await setOperatorPassword(deps.db, deps.clock, name, body.password, c.get('operator').name, c.get('client'), c.get('operator'))) satisfies ResponseOf<'setOperatorPassword'>);
  });
};
