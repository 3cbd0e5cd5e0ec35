import { ApproveRequest, EnrollmentListQuery, RejectRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { approveEnrollment, rejectEnrollment } from '../../domain/decisions.ts';
import type { Deps } from '../../domain/deps.ts';
import { listPendingOrAll } from '../../domain/enrollment-list.ts';
import { readJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerEnrollmentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listEnrollments.path, async (c) => {
    const q = readQuery(c, EnrollmentListQuery);
    const page = await listPendingOrAll(deps, c.get('operator'), { status: q.status, siteCode: q.site_code, tenantCode: q.tenant_code, limit: q.limit, cursor: q.cursor });
    return c.json(page satisfies ResponseOf<'listEnrollments'>);
  });
  app.post(ROUTES.approveEnrollment.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, ApproveRequest);
    return c.json((await approveEnrollment(deps, id, body.notes ?? null, c.get('operator'), c.get('client'), body.identity ?? 'replace')) satisfies ResponseOf<'approveEnrollment'>);
  });
  app.post(ROUTES.rejectEnrollment.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, RejectRequest);
    return c.json((await rejectEnrollment(deps, id, body.reason, c.get('operator'), c.get('client'))) satisfies ResponseOf<'rejectEnrollment'>);
  });
};
