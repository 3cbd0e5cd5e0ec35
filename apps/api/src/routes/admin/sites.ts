import { CreateSiteRequest, CreateTenantRequest, RotateEnrollmentKeyRequest, ROUTES, SiteCode, SiteListQuery, UpdateSiteRequest, type ResponseOf } from '@airlock/schema';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../../domain/deps.ts';
import { changeSite, createSite, createTenant, describeEnrollmentKey, listAllSites, listAllTenants, rotateEnrollmentKey } from '../../domain/sites.ts';
import { ApiError } from '../../errors.ts';
import { readJson, readOptionalJson, readQuery } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

const siteParam = (c: Context) => {
  const parsed = v.safeParse(SiteCode, c.req.param('site_code') ?? '');
  if (!parsed.success) throw new ApiError('not_found', 'No such site');
  return parsed.output;
};

export const registerSiteRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.createSite.path, async (c) => {
    const body = await readJson(c, CreateSiteRequest);
    return c.json((await createSite(deps, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'createSite'>, 201);
  });
  app.get(ROUTES.listSites.path, async (c) => {
    const q = readQuery(c, SiteListQuery);
    return c.json((await listAllSites(deps, c.get('operator'), { limit: q.limit, cursor: q.cursor, tenantCode: q.tenant_code })) satisfies ResponseOf<'listSites'>);
  });
  app.patch(ROUTES.updateSite.path, async (c) => {
    const site = siteParam(c);
    const body = await readJson(c, UpdateSiteRequest);
    return c.json((await changeSite(deps, site, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'updateSite'>);
  });
  app.post(ROUTES.rotateEnrollmentKey.path, async (c) => {
    const site = siteParam(c);
    // The body is optional: an empty POST rotates with no expiry and no use limit.
    const body = await readOptionalJson(c, RotateEnrollmentKeyRequest);
    return c.json((await rotateEnrollmentKey(deps, site, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'rotateEnrollmentKey'>, 201);
  });
  app.get(ROUTES.describeEnrollmentKey.path, async (c) =>
    c.json((await describeEnrollmentKey(deps, siteParam(c), c.get('operator'))) satisfies ResponseOf<'describeEnrollmentKey'>),
  );
  // Tenants (issue 22): creating one is for global admins (the route table's globalOnly).
  app.post(ROUTES.createTenant.path, async (c) => {
    const body = await readJson(c, CreateTenantRequest);
    return c.json((await createTenant(deps, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'createTenant'>, 201);
  });
  app.get(ROUTES.listTenants.path, async (c) => c.json((await listAllTenants(deps, c.get('operator'))) satisfies ResponseOf<'listTenants'>));
};
