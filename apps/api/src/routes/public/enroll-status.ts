import { ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { pollStatus } from '../../domain/enrollment-status.ts';
import type { Deps } from '../../domain/deps.ts';
import { bearerToken } from '../../http/auth.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerEnrollStatus = (app: Hono<AppEnv>, deps: Deps) =>
  app.get(ROUTES.enrollmentStatus.path, async (c) => {
    const result = await pollStatus(deps, bearerToken(c.req.header('authorization')), c.get('client'));
    return c.json(result.body satisfies ResponseOf<'enrollmentStatus'>, result.httpStatus);
  });
