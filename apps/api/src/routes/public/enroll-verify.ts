import { ROUTES, VerifyRequest, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { verify } from '../../domain/enroll-verify.ts';
import type { Deps } from '../../domain/deps.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerEnrollVerify = (app: Hono<AppEnv>, deps: Deps) =>
  app.post(ROUTES.verifyEnrollment.path, async (c) => {
    const body = await readJson(c, VerifyRequest, 'verify.invalid');
    return c.json((await verify(deps, body, c.get('client'))) satisfies ResponseOf<'verifyEnrollment'>, 200);
  });
