import { CreateSiteRequest, RotateEnrollmentKeyRequest, SiteCode } from '@airlock/schema';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../../domain/deps.ts';
import { createSite, describeEnrollmentKey, listAllSites, rotateEnrollmentKey } from '../../domain/sites.ts';
import { ApiError } from '../../errors.ts';
import { readJson, readOptionalJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

const siteParam = (c: Context) => {
  const parsed = v.safeParse(SiteCode, c.req.param('site_code') ?? '');
  if (!parsed.success) throw new ApiError('not_found', 'No such site');
  return parsed.output;
};

export const registerSiteRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post('/api/v1/admin/sites', async (c) => {
    const body = await readJson(c, CreateSiteRequest);
    return c.json(await createSite(deps, body, c.get('operator'), c.get('client')), 201);
  });
  app.get('/api/v1/admin/sites', async (c) => c.json(await listAllSites(deps)));
  app.post('/api/v1/admin/sites/:site_code/enrollment-key', async (c) => {
    const site = siteParam(c);
    // The body is optional: an empty POST rotates with no expiry and no use limit.
    const body = await readOptionalJson(c, RotateEnrollmentKeyRequest);
    return c.json(await rotateEnrollmentKey(deps, site, body, c.get('operator'), c.get('client')), 201);
  });
  app.get('/api/v1/admin/sites/:site_code/enrollment-key', async (c) => c.json(await describeEnrollmentKey(deps, siteParam(c))));
};
