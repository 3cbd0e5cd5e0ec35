import { BuildInstallerRequest, ROUTES, SiteCode, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../../domain/deps.ts';
import { buildInstaller, installerSigners, rotateInstallerSigningKey } from '../../domain/installers.ts';
import { ApiError } from '../../errors.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerInstallerRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.buildInstaller.path, async (c) => {
    const site = v.safeParse(SiteCode, c.req.param('site_code') ?? '');
    if (!site.success) throw new ApiError('not_found', 'No such site');
    const body = await readJson(c, BuildInstallerRequest);
    return c.json((await buildInstaller(deps, site.output, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'buildInstaller'>, 201);
  });
  app.get(ROUTES.installerSigners.path, (c) => c.json(installerSigners(deps) satisfies ResponseOf<'installerSigners'>));
  app.post(ROUTES.rotateInstallerSigningKey.path, async (c) =>
    c.json((await rotateInstallerSigningKey(deps, c.get('operator'), c.get('client'))) satisfies ResponseOf<'rotateInstallerSigningKey'>, 201),
  );
};
