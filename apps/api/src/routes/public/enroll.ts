import { EnrollRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { enroll } from '../../domain/enroll.ts';
import type { Deps } from '../../domain/deps.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerEnroll = (app: Hono<AppEnv>, deps: Deps) =>
  app.post(ROUTES.enroll.path, async (c) => {
    const body = await readJson(c, EnrollRequest, 'enroll.invalid');
    return c.json((await enroll(deps, body, c.get('client'))) satisfies ResponseOf<'enroll'>, 201);
  });
